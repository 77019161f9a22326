// SVG line plot (svg_plot.h).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svg_plot.h"

enum { WIDTH = 640, HEIGHT = 420, LEFT = 70, RIGHT = 30, TOP = 40, BOTTOM = 70 };

// A "nice" tick step for the range: 1, 2 or 5 times a power of ten, about 6 ticks.
static double tick_step(double span) {
  double raw = span / 6, power = pow(10, floor(log10(raw))), f = raw / power;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power;
}

static void escape(FILE *f, const char *text) {
  for (; text && *text; text++) {
    if (*text == '<') fputs("&lt;", f);
    else if (*text == '>') fputs("&gt;", f);
    else if (*text == '&') fputs("&amp;", f);
    else fputc(*text, f);
  }
}

vdit_status svg_plot_write(const char *path, const svg_plot *p) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  size_t shown = 0;
  for (size_t i = 0; i < p->count; i++) {
    if (!isfinite(p->x[i]) || !isfinite(p->y[i])) continue;
    x0 = fmin(x0, p->x[i]), x1 = fmax(x1, p->x[i]), y0 = fmin(y0, p->y[i]), y1 = fmax(y1, p->y[i]);
    shown++;
  }
  if (!shown) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-12) x0 -= 1, x1 += 1;
  if (y1 - y0 < 1e-12) y0 -= 1, y1 += 1;
  double xs = tick_step(x1 - x0), ys = tick_step(y1 - y0);
  x0 = floor(x0 / xs) * xs, x1 = ceil(x1 / xs) * xs, y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys) * ys;
  FILE *f = fopen(path, "w");
  if (!f) return VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s: %s", path, strerror(errno));
  const double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define PX(v) (LEFT + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (TOP + (1 - ((v) - y0) / (y1 - y0)) * ph)
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"22\" text-anchor=\"middle\" "
             "font-size=\"14\">", WIDTH / 2);
  escape(f, p->title);
  fprintf(f, "</text>\n");
  for (double v = x0; v <= x1 + xs * 1e-6; v += xs) {
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>", PX(v), TOP, PX(v), HEIGHT - BOTTOM);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", PX(v), HEIGHT - BOTTOM + 16, v);
  }
  for (double v = y0; v <= y1 + ys * 1e-6; v += ys) {
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", LEFT, PY(v), WIDTH - RIGHT, PY(v));
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, PY(v) + 4, v);
  }
  fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", LEFT, TOP, pw, ph);
  fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", LEFT + pw / 2, HEIGHT - BOTTOM + 36);
  escape(f, p->x_label);
  fprintf(f, "</text>\n<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">",
          TOP + ph / 2, TOP + ph / 2);
  escape(f, p->y_label);
  fprintf(f, "</text>\n<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
  for (size_t i = 0; i < p->count; i++)
    if (isfinite(p->x[i]) && isfinite(p->y[i])) fprintf(f, "%.1f,%.1f ", PX(p->x[i]), PY(p->y[i]));
  fprintf(f, "\"/>\n");
  for (size_t i = 0; i < p->count; i++) {
    if (!isfinite(p->x[i]) || !isfinite(p->y[i])) continue;
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f77b4\"/>", PX(p->x[i]), PY(p->y[i]));
    if (p->labels && p->labels[i]) {
      fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", PX(p->x[i]) + 6, PY(p->y[i]) - 6);
      escape(f, p->labels[i]);
      fprintf(f, "</text>");
    }
    fprintf(f, "\n");
  }
  if (p->caption) {
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", LEFT, HEIGHT - 12);
    escape(f, p->caption);
    fprintf(f, "</text>\n");
  }
  fprintf(f, "</svg>\n");
#undef PX
#undef PY
  if (fclose(f) != 0) return VDIT_ERROR(VDIT_ERROR_IO, "cannot write %s", path);
  return VDIT_OK;
}
