/* calib.h - router logits of a calibration text, collected once at start-up, and routing
 * configs fitted to a target average K on them. */
#ifndef AK_SERVE_CALIB_H
#define AK_SERVE_CALIB_H

#include <stddef.h>

#include "adaptivek.h"

typedef struct ak_server ak_server;

int ak_calib_collect(ak_server *s, ak_error *err);
int ak_calib_config(ak_server *s, ak_router_config *cfg, double target_avg_k, ak_error *err);

#endif
