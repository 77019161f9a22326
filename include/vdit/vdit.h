// vdit: the whole public C API. Each layer has its own header; include this one for all.
#ifndef VDIT_H
#define VDIT_H

#include "vdit/base.h"
#include "vdit/num.h"
#include "vdit/tensor.h"
#include "vdit/ops.h"
#include "vdit/attn.h"
#include "vdit/model.h"
#include "vdit/train.h"
#include "vdit/pipe.h"
#include "vdit/sim.h"
#include "vdit/shield.h"
#include "vdit/world.h"
#include "vdit/kbench.h"

#endif
