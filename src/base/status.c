// Status strings and the per-thread last-error message.
#include "vdit/base.h"

#include <stdio.h>
#include <string.h>

// The one piece of per-thread state outside a backend context: like errno, it holds the
// detail of the last failure so that every call can return a plain status code.
static _Thread_local char last_error_message[1024];

const char *vdit_status_string(vdit_status status) {
  switch (status) {
    case VDIT_OK: return "ok";
    case VDIT_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case VDIT_ERROR_OUT_OF_MEMORY: return "out of memory";
    case VDIT_ERROR_IO: return "i/o error";
    case VDIT_ERROR_CORRUPT_FILE: return "corrupt file";
    case VDIT_ERROR_UNSUPPORTED: return "unsupported";
    case VDIT_ERROR_NO_DEVICE: return "no device";
    case VDIT_ERROR_CUDA: return "cuda error";
    case VDIT_ERROR_INTERNAL: return "internal error";
    case VDIT_STATUS_COUNT: break;
  }
  return "unknown status";
}

const char *vdit_last_error(void) { return last_error_message; }

void vdit_error_clear(void) { last_error_message[0] = '\0'; }

vdit_status vdit_error_set(vdit_status status, const char *file, int line, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(last_error_message, sizeof last_error_message, format, args);
  va_end(args);
  vdit_log(VDIT_LOG_DEBUG, "%s:%d: %s: %s", file, line, vdit_status_string(status), last_error_message);
  return status;
}
