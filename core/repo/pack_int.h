/*
 * Private to core/repo: the per-entry rules that pack headers and index
 * files share (docs/format/pack.md, "Blob entries"), kept in one place so
 * the two decoders cannot disagree about what a valid blob entry is.
 */
#ifndef COFFER_REPO_PACK_INT_H
#define COFFER_REPO_PACK_INT_H

#include "repo/blob.h"

/*
 * 0 if the type (data, tree or delta), compression and lengths of e are
 * allowed in format version 1 (offset is not looked at), else -EBADMSG.
 */
int pack_entry_check(const struct blob_entry *e);

#endif
