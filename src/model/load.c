// vdit_model_load: a checkpoint file or folder (all its *.safetensors shards, its
// config.json) to weights in one call.
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model_internal.h"

enum { MAX_SHARDS = 1024 };

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int has_suffix(const char *name, const char *suffix) {
  size_t n = strlen(name), m = strlen(suffix);
  return n > m && strcmp(name + n - m, suffix) == 0;
}

// The *.safetensors files of `folder`, sorted by name (shards come in order), as malloc'd
// paths in paths[0 .. *count).
static vdit_status list_shards(const char *folder, char **paths, size_t *count) {
  *count = 0;
  DIR *dir = opendir(folder);
  if (!dir) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open the folder %s: %s", folder, strerror(errno));
  vdit_status status = VDIT_OK;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.' || !has_suffix(entry->d_name, ".safetensors")) continue;
    if (*count == MAX_SHARDS) {
      status = VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "%s holds more than %d .safetensors files", folder, MAX_SHARDS);
      break;
    }
    size_t length = strlen(folder) + strlen(entry->d_name) + 2;
    char *path = malloc(length);
    if (!path) {
      status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory listing %s", folder);
      break;
    }
    snprintf(path, length, "%s/%s", folder, entry->d_name);
    paths[(*count)++] = path;
  }
  closedir(dir);
  if (status == VDIT_OK && *count == 0)
    status = VDIT_ERROR(VDIT_ERROR_IO, "%s has no .safetensors files (a diffusers repo keeps them in transformer/)",
                        folder);
  if (status != VDIT_OK) {
    for (size_t i = 0; i < *count; i++) free(paths[i]);
    *count = 0;
    return status;
  }
  qsort(paths, *count, sizeof *paths, compare_strings);
  return VDIT_OK;
}

vdit_status vdit_model_load(const char *path, const char *config_path, vdit_model_weights *weights) {
  if (!path || !weights) return VDIT_ERROR(VDIT_ERROR_INVALID_ARGUMENT, "vdit_model_load: NULL argument");
  memset(weights, 0, sizeof *weights);
  struct stat st;
  if (stat(path, &st) != 0) return VDIT_ERROR(VDIT_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
  char **paths = calloc(MAX_SHARDS, sizeof *paths);
  vdit_safetensors **files = calloc(MAX_SHARDS, sizeof *files);
  char *folder_config = NULL;
  size_t count = 0;
  vdit_status status = VDIT_OK;
  if (!paths || !files) {
    status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory opening %s", path);
    goto done;
  }
  if (S_ISDIR(st.st_mode)) {
    status = list_shards(path, paths, &count);
    if (status != VDIT_OK) goto done;
    if (!config_path) {
      size_t length = strlen(path) + sizeof "/config.json";
      folder_config = malloc(length);
      if (!folder_config) {
        status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory opening %s", path);
        goto done;
      }
      snprintf(folder_config, length, "%s/config.json", path);
      if (stat(folder_config, &st) == 0) config_path = folder_config;
    }
  } else {
    paths[0] = strdup(path);
    if (!paths[0]) {
      status = VDIT_ERROR(VDIT_ERROR_OUT_OF_MEMORY, "out of memory opening %s", path);
      goto done;
    }
    count = 1;
  }
  for (size_t i = 0; i < count; i++) {
    status = vdit_safetensors_open(paths[i], &files[i]);
    if (status != VDIT_OK) goto done;
  }
  vdit_model_hints hints;
  vdit_model_hints_init(&hints);
  if (config_path) {
    status = vdit_model_hints_read(config_path, &hints);
    if (status != VDIT_OK) goto done;
  }
  vdit_model_config config;
  status = vdit_model_config_infer((const vdit_safetensors *const *)files, count, &hints, &config);
  if (status != VDIT_OK) goto done;
  status = vdit_model_weights_alloc(&config, weights);
  if (status != VDIT_OK) goto done;
  status = vdit_model_weights_read((const vdit_safetensors *const *)files, count, weights);
  if (status != VDIT_OK) vdit_model_weights_free(weights);
done:
  for (size_t i = 0; i < count; i++) {
    vdit_safetensors_close(files ? files[i] : NULL);
    free(paths[i]);
  }
  free(paths);
  free(files);
  free(folder_config);
  return status;
}
