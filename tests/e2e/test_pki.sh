#!/usr/bin/env bash
# test_pki.sh - `optimfs init` and `optimfs node add` as a user runs them
# (no mount): the files and their modes, certificates that openssl(1)
# verifies against the CA, refusals to overwrite (exit 1, naming the
# file), and usage errors (exit 2).
source "$(dirname "$0")/e2e_lib.sh"

C=$TMP/cluster

# expect_status WHAT STATUS CMD...: CMD must exit with STATUS.
expect_status() {
	local what=$1 want=$2 rc=0
	shift 2
	"$@" >"$TMP/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] ||
		fail "$what: '$*' exited $rc, expected $want ($(cat "$TMP/out"))"
}

mode() {
	stat -c %a "$1"
}

step "init creates the CA and the first node"
"$OPTIMFS_BIN" init "$C" --name n1 >"$TMP/out"
grep -q "$C/ca.pem" "$TMP/out" || fail "init did not say where the CA is"
expect_eq "DIR mode" 700 "$(mode "$C")"
expect_eq "ca.key mode" 600 "$(mode "$C/ca.key")"
expect_eq "ca.pem mode" 644 "$(mode "$C/ca.pem")"
expect_eq "node key mode" 600 "$(mode "$C/nodes/n1/key.pem")"
expect_eq "node cert mode" 644 "$(mode "$C/nodes/n1/cert.pem")"
ls -A "$C" | grep -q tmp && fail "a temporary file was left in $C"

step "node add issues a certificate the CA verifies"
"$OPTIMFS_BIN" node add "$C" n2 >/dev/null
for n in n1 n2; do
	openssl verify -CAfile "$C/ca.pem" -purpose sslserver \
		"$C/nodes/$n/cert.pem" >/dev/null ||
		fail "$n's certificate does not verify as a server"
	openssl verify -CAfile "$C/ca.pem" -purpose sslclient \
		"$C/nodes/$n/cert.pem" >/dev/null ||
		fail "$n's certificate does not verify as a client"
	[ "$(openssl x509 -in "$C/nodes/$n/cert.pem" -noout -pubkey |
		openssl pkey -pubin -outform DER | sha256sum)" == \
		"$(openssl pkey -in "$C/nodes/$n/key.pem" -pubout -outform DER |
			sha256sum)" ] || fail "$n's key does not match its certificate"
done
openssl x509 -in "$C/nodes/n2/cert.pem" -noout -ext subjectAltName |
	grep -q "DNS:n2, DNS:localhost, IP Address:127.0.0.1" ||
	fail "n2's subjectAltName is wrong"
openssl x509 -in "$C/ca.pem" -noout -text | grep -q "ASN1 OID: prime256v1" ||
	fail "the CA key is not P-256"

step "a certificate of another CA does not verify"
"$OPTIMFS_BIN" init "$TMP/other" --name x >/dev/null
if openssl verify -CAfile "$C/ca.pem" "$TMP/other/nodes/x/cert.pem" \
	>/dev/null 2>&1; then
	fail "another cluster's certificate verified against this CA"
fi

step "nothing is overwritten (exit 1, naming the file)"
sum_before=$(cat "$C/ca.pem" "$C/ca.key" "$C/nodes/n2/cert.pem" | sha256sum)
expect_status "init again" 1 "$OPTIMFS_BIN" init "$C" --name n9
grep -q "$C/ca.pem already exists" "$TMP/out" ||
	fail "init again: message does not name ca.pem: $(cat "$TMP/out")"
expect_status "node add again" 1 "$OPTIMFS_BIN" node add "$C" n2
grep -q "nodes/n2/cert.pem already exists" "$TMP/out" ||
	fail "node add again: message does not name the file: $(cat "$TMP/out")"
expect_status "node add without a CA" 1 "$OPTIMFS_BIN" node add "$TMP/none" n1
grep -q "optimfs init" "$TMP/out" || fail "no hint to run init"
expect_eq "files after refusals" "$sum_before" \
	"$(cat "$C/ca.pem" "$C/ca.key" "$C/nodes/n2/cert.pem" | sha256sum)"
[ -e "$C/nodes/n9" ] && fail "a refused init still created node n9"

step "usage errors exit 2"
expect_status "init without DIR" 2 "$OPTIMFS_BIN" init
expect_status "init, two DIRs" 2 "$OPTIMFS_BIN" init "$TMP/a" "$TMP/b"
expect_status "init, bad option" 2 "$OPTIMFS_BIN" init "$TMP/a" --bogus
expect_status "init, bad name" 2 "$OPTIMFS_BIN" init "$TMP/a" --name ../x
[ -e "$TMP/a" ] && fail "init with a bad name created $TMP/a"
expect_status "node without add" 2 "$OPTIMFS_BIN" node
expect_status "node, unknown verb" 2 "$OPTIMFS_BIN" node remove "$C" n1
expect_status "node add without NAME" 2 "$OPTIMFS_BIN" node add "$C"
expect_status "node add, too many" 2 "$OPTIMFS_BIN" node add "$C" a b
expect_status "node add, bad name" 2 "$OPTIMFS_BIN" node add "$C" -x
expect_status "node add, long name" 2 "$OPTIMFS_BIN" node add "$C" \
	"$(printf 'a%.0s' $(seq 64))"
grep -q "1 to 63 characters" "$TMP/out" || fail "bad name: no rule given"

step "help exits 0"
expect_status "init --help" 0 "$OPTIMFS_BIN" init --help
grep -q "usage: optimfs init DIR" "$TMP/out" || fail "init --help text"
expect_status "node --help" 0 "$OPTIMFS_BIN" node --help
expect_status "node add --help" 0 "$OPTIMFS_BIN" node add --help
grep -q "usage: optimfs node add DIR NAME" "$TMP/out" || fail "node help"
expect_status "help node" 0 "$OPTIMFS_BIN" help node
"$OPTIMFS_BIN" --help | grep -q "node add DIR NAME" ||
	fail "optimfs --help does not list node add"

echo "PASS"
