/* See scratch_file.h. */
#include "scratch_file.h"

#ifdef _WIN32
#include <windows.h>

FILE *scratch_file(void)
{
    char folder[MAX_PATH + 1];
    char path[MAX_PATH + 1];
    DWORD length = GetTempPathA((DWORD)sizeof folder, folder);
    if (length == 0 || length >= sizeof folder)
        return NULL;
    if (GetTempFileNameA(folder, "wsb", 0, path) == 0) /* creates it, empty */
        return NULL;
    /* "D": the C runtime deletes the file when the stream is closed. */
    FILE *file = fopen(path, "w+bD");
    if (!file)
        DeleteFileA(path);
    return file;
}
#else
FILE *scratch_file(void)
{
    return tmpfile();
}
#endif
