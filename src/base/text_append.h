// Appending printf text to a fixed buffer, for the describe functions that build one line
// from parts (attention methods, policies).
#ifndef VDIT_BASE_TEXT_APPEND_H
#define VDIT_BASE_TEXT_APPEND_H

#include <stddef.h>

// Appends printf text to buffer[*used .. size), keeping it terminated; past the end the text
// is cut and *used stays at size.
void vdit_text_append(char *buffer, size_t size, size_t *used, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif // VDIT_BASE_TEXT_APPEND_H
