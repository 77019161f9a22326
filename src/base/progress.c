// Progress display: one redrawn line on a terminal, plain lines (every 10 s) in a log.
#define _POSIX_C_SOURCE 200809L
#include "vdit/base.h"

#include <stdio.h>
#include <unistd.h>

enum { PROGRESS_BAR_WIDTH = 24 };
static const double PROGRESS_TERMINAL_PERIOD_S = 0.1;
static const double PROGRESS_PLAIN_PERIOD_S = 10.0;

static void format_duration(double seconds, char *out, size_t size) {
  if (seconds < 0 || seconds > 1e7) {
    snprintf(out, size, "--:--");
    return;
  }
  long total = (long)(seconds + 0.5);
  if (total >= 3600)
    snprintf(out, size, "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  else
    snprintf(out, size, "%02ld:%02ld", total / 60, total % 60);
}

static void progress_draw(vdit_progress *progress, const char *extra, int final) {
  double now = vdit_time_seconds();
  double elapsed = now - progress->start_time;
  double fraction = progress->total ? (double)progress->done / (double)progress->total : 0.0;
  if (fraction > 1.0) fraction = 1.0;
  double eta = (fraction > 0.0) ? elapsed * (1.0 - fraction) / fraction : -1.0;
  char elapsed_text[32], eta_text[32];
  format_duration(elapsed, elapsed_text, sizeof elapsed_text);
  format_duration(eta, eta_text, sizeof eta_text);
  if (progress->is_terminal) {
    char bar[PROGRESS_BAR_WIDTH + 1];
    int filled = (int)(fraction * PROGRESS_BAR_WIDTH);
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[PROGRESS_BAR_WIDTH] = '\0';
    fprintf(progress->stream, "\r\033[K%s [%s] %llu/%llu %s eta %s%s%s", progress->label, bar,
            (unsigned long long)progress->done, (unsigned long long)progress->total, elapsed_text,
            eta_text, extra ? "  " : "", extra ? extra : "");
    if (final) fputc('\n', progress->stream);
  } else {
    fprintf(progress->stream, "%s %llu/%llu (%.0f%%) elapsed %s eta %s%s%s\n", progress->label,
            (unsigned long long)progress->done, (unsigned long long)progress->total,
            100.0 * fraction, elapsed_text, eta_text, extra ? "  " : "", extra ? extra : "");
  }
  fflush(progress->stream);
  progress->last_draw_time = now;
}

void vdit_progress_begin(vdit_progress *progress, const char *label, uint64_t total, FILE *stream) {
  progress->label = label;
  progress->total = total;
  progress->done = 0;
  progress->stream = stream ? stream : stderr;
  progress->is_terminal = isatty(fileno(progress->stream));
  progress->start_time = vdit_time_seconds();
  progress->last_draw_time = progress->start_time;
}

void vdit_progress_update(vdit_progress *progress, uint64_t done, const char *extra) {
  progress->done = done;
  double period = progress->is_terminal ? PROGRESS_TERMINAL_PERIOD_S : PROGRESS_PLAIN_PERIOD_S;
  if (vdit_time_seconds() - progress->last_draw_time >= period) progress_draw(progress, extra, 0);
}

void vdit_progress_end(vdit_progress *progress, const char *extra) {
  progress->done = progress->total;
  progress_draw(progress, extra, 1);
}
