/*
 * local.h - the local transactor: struct oc_transactor over one repository
 * in this process (the single-node setup, and the tests of core/).
 *
 * Each operation calls the ost_repo_* function of the same name (repo.h has
 * the semantics); nothing is added or cached here.
 */
#ifndef OST_LOCAL_H
#define OST_LOCAL_H

#include "core/transactor.h"
#include "store/repo.h"

/*
 * The transactor embedded in r.  Borrowed: valid until ost_repo_close(r);
 * never freed by the caller.  Thread-safe like the repository.
 */
struct oc_transactor *ost_local_transactor(struct ost_repo *r);

#endif /* OST_LOCAL_H */
