// A small SVG line plot writer (no plotting library needed): one series of (x, y) points
// joined by a line, each marked and labelled, with linear axes, ticks and a title.
#ifndef VDIT_TOOLS_SVG_PLOT_H
#define VDIT_TOOLS_SVG_PLOT_H

#include <stddef.h>

#include "vdit/base.h"

typedef struct svg_plot {
  const char *title, *x_label, *y_label;
  size_t count;
  const double *x, *y;        // non-finite points are left out (and said so in the caption)
  const char *const *labels;  // per point, or NULL
  const char *caption;        // one line under the plot, or NULL
} svg_plot;

vdit_status svg_plot_write(const char *path, const svg_plot *plot);

#endif
