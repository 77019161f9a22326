// Leveled logging to stderr; the level comes from VDIT_LOG at each call.
#include "vdit/base.h"

#include <stdlib.h>
#include <string.h>

static vdit_log_level log_level_from_environment(void) {
  const char *value = getenv("VDIT_LOG");
  if (value == NULL) return VDIT_LOG_WARN;
  if (strcmp(value, "error") == 0) return VDIT_LOG_ERROR;
  if (strcmp(value, "info") == 0) return VDIT_LOG_INFO;
  if (strcmp(value, "debug") == 0) return VDIT_LOG_DEBUG;
  return VDIT_LOG_WARN;
}

int vdit_log_enabled(vdit_log_level level) { return level <= log_level_from_environment(); }

void vdit_log(vdit_log_level level, const char *format, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (!vdit_log_enabled(level)) return;
  va_list args;
  va_start(args, format);
  fprintf(stderr, "vdit %s: ", names[level]);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
}
