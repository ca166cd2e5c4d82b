/* The results of a run, written for people (stderr summary) and programs
 * (one JSON document, a CSV time series). Portable C11. */
#ifndef WSB_LOADGEN_REPORT_H
#define WSB_LOADGEN_REPORT_H

#include <stdio.h>

#include "engine.h"
#include "options.h"

void report_summary(FILE *to, const loadgen_options *options, const run_results *results);
void report_json(FILE *to, const loadgen_options *options, const run_results *results, int exit_code);
void report_csv(FILE *to, const run_results *results);

#endif
