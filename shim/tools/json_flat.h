/* Reads a JSON document into (path, value) leaves: {"a": {"b": 1}} gives
 * ("a.b", "1"). Enough to sum the shim's stats files; arrays are indexed
 * ("a.0"). Strings come back unescaped only for \" \\ \/ and \uXXXX < 0x80. */
#ifndef KTLS_JSON_FLAT_H
#define KTLS_JSON_FLAT_H

#include <stddef.h>

enum json_kind { JSON_NUMBER, JSON_STRING, JSON_TRUE, JSON_FALSE, JSON_NULL };

typedef void (*json_leaf_fn)(const char *path, enum json_kind kind, const char *value, void *arg);

/* 0 on success; -1 on malformed input (leaves seen so far were reported). */
int json_flatten(const char *text, size_t len, json_leaf_fn leaf, void *arg);

#endif
