/*
 * cli.h - the optimfs command's subcommands (fs/main.c dispatches) and the
 * collection reports behind `optimfs log` and `optimfs verify`.
 *
 * Reports.  A running daemon holds the store's lock, so the CLI asks the
 * daemon: it opens MOUNT/.optimfs/ctl, writes one request line and reads
 * answer lines to EOF.  The same producer (ofs_report_run) runs inside
 * the daemon (fs/fuse_ll.c) or, for an unmounted data directory, in the
 * CLI itself.  Lines are tab-separated, each ending in '\n':
 *
 *   request (CLI -> daemon)
 *     log <ino>            list the log entries of ino's collection
 *     verify <ino>         walk and check its hash chain
 *   answer (daemon -> CLI), zero or more of
 *     progress <blocks> <entries>                  (verify; throttled)
 *     entry <rev> <ts_ms> <aid> <actions> <bytes>  (log; oldest first)
 *   then exactly one final line
 *     ok <blocks> <entries> <last_rev>   walk finished, chain intact
 *     bad <index> <block> <why>          first bad block (0 = head)
 *     error <errno> <message>            could not run
 *
 * <ino> is the inode number stat(2) reports for the path; the collection
 * of a diary is its log, a directory's is its tree's log.
 */
#ifndef OFS_CLI_H
#define OFS_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/transactor.h"
#include "fs/ns.h"

enum ofs_report_kind { OFS_REPORT_LOG, OFS_REPORT_VERIFY };

/* Receives one answer line (with its '\n'); nonzero return stops. */
typedef int (*ofs_report_emit)(void *arg, const char *line, size_t len);

/*
 * Produce the answer for kind on inode ino of ns (whose transactor is
 * tx): first commits what is pending on ino so the report covers every
 * acknowledged write, then reads the committed log through tx.  Always
 * emits a final line (unless emit stopped it); returns O_OK when the walk
 * ran (even if it found a bad block), else the error it also emitted.
 * Blocks on the store.
 */
o_err ofs_report_run(struct ofs_ns *ns, struct oc_transactor *tx, uint64_t ino,
    enum ofs_report_kind kind, ofs_report_emit emit, void *arg);

/*
 * Subcommands: argv[0] is the subcommand's name.  Each returns the
 * process exit status: 0 ok, 1 runtime error, 2 usage error.
 */
int ofs_cmd_mount(int argc, char **argv);
int ofs_cmd_umount(int argc, char **argv);
int ofs_cmd_status(int argc, char **argv);
int ofs_cmd_diary(int argc, char **argv);
int ofs_cmd_log(int argc, char **argv);
int ofs_cmd_verify(int argc, char **argv);
/* fs/cli_pki.c: cluster certificates (transport/pki.h). */
int ofs_cmd_init(int argc, char **argv);
int ofs_cmd_node(int argc, char **argv);

/*
 * Helpers shared by the subcommands (fs/cli_util.c).
 */
struct o_buf;

/* printf onto the end of b. */
/* "optimfs CMD: <message>" and where to find help, on stderr; returns
 * OFS_EXIT_USAGE. */
int ofs_usage_error(const char *cmd, const char *help_cmd, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
int ofs_usage_errorv(const char *cmd, const char *help_cmd, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));
/* After getopt_long (its optstring starting with ':', so that it prints
 * nothing) returned '?' or ':' (c): say which option was wrong, as
 * ofs_usage_error does, and return OFS_EXIT_USAGE. */
int  ofs_getopt_error(const char *cmd, int c, char *const *argv);
/* A command of one argument (what, e.g. "PATH") given argc - 1 others:
 * say what is wrong (missing, an unknown option, too many), as
 * ofs_usage_error does. */
int ofs_one_arg_error(
    const char *cmd, int argc, char **argv, const char *what);
void ofs_buf_printf(struct o_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The root of the optimfs mount that holds path (which must exist) into
 * root[cap]: 0, or an errno (ENODEV: path is not inside an optimfs
 * mount; ENOTCONN: the mount's daemon is gone; others from stat).
 */
int ofs_cli_mount_root(const char *path, char *root, size_t cap);

/* In a mount's data directory: its daemon's result, "PID STATUS\nWHY\n",
 * written as it ends (read by `optimfs umount`); STATUS OFS_EXIT_RUNNING,
 * written as it starts, is what a killed daemon leaves. */
#define OFS_EXIT_NOTE "optimfs.exit"
#define OFS_EXIT_RUNNING (-1)

/* Exit statuses. */
#define OFS_EXIT_OK 0
#define OFS_EXIT_FAIL 1
#define OFS_EXIT_USAGE 2

#define OFS_VERSION "0.1.0"

#endif /* OFS_CLI_H */
