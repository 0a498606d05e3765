/*
 * journal.h - the journal of queued, uncommitted actions (core/journal.h)
 * kept in a repository's RocksDB, in its own column family "journal".
 */
#ifndef OST_JOURNAL_H
#define OST_JOURNAL_H

#include "core/journal.h"
#include "store/repo.h"

/*
 * Open r's journal: a new session, numbered after every earlier one
 * (written synced).  *out lives until ost_journal_close (which writes the
 * lazy records still held, core/journal.h), which must come before
 * ost_repo_close(r).  Errors from RocksDB (O_ENOSPC, O_EIO,
 * O_ECORRUPT for a damaged node id or session).
 */
o_err ost_journal_open(struct ost_repo *r, struct oc_journal **out);
void  ost_journal_close(struct oc_journal *j);

#endif /* OST_JOURNAL_H */
