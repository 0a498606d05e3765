/*
 * repo_priv.h - glue between repo.c and local.c (private to store/).
 *
 * The repository embeds the struct oc_transactor that ost_local_transactor()
 * hands out, so that the local transactor needs no allocation of its own and
 * lives exactly as long as the repository.
 */
#ifndef OST_REPO_PRIV_H
#define OST_REPO_PRIV_H

#include "core/transactor.h"
#include "store/repo.h"

/* The vtable of the local transactor (local.c). */
extern const struct oc_transactor_ops ost_local_ops;

/* The embedded transactor of r (ops = &ost_local_ops), and back. */
struct oc_transactor *ost_repo_txslot(struct ost_repo *r);
struct ost_repo      *ost_repo_of_txslot(struct oc_transactor *t);

/* The repository's database (store/journal.c keeps its family there). */
struct ost_rdb *ost_repo_rdb(struct ost_repo *r);

#endif /* OST_REPO_PRIV_H */
