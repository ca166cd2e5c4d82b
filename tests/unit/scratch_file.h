/* A temporary file for tests that capture what a function prints to a FILE*
 * (help and version texts): tmpfile() on POSIX; on Windows a file in the
 * user's temporary folder, because the C runtime's tmpfile() creates its
 * file in the root of the drive, which a user without administrator rights
 * may not write to. Either way the file is deleted when it is closed. */
#ifndef WSB_TESTS_SCRATCH_FILE_H
#define WSB_TESTS_SCRATCH_FILE_H

#include <stdio.h>

/* Opened for reading and writing (binary); NULL on failure. */
FILE *scratch_file(void);

#endif
