#!/usr/bin/env bash
# test_owners.sh - with -o allow_other each file keeps its owner.
#
# A mount that lets other users in (-o allow_other, here by root) records
# the creator's uid and gid in each new file, diary and directory, shows
# them, and lets root chown; the kernel checks permissions against them
# (default_permissions), so another user can write what it created and
# not what root created.  A directory with the set-group-id bit hands its
# group down (and the bit to subdirectories).  Owners survive a remount.
# A mount without allow_other (one user) shows every file as its own
# user's and refuses chown to another, as before owners were kept.
source "$(dirname "$0")/e2e_lib.sh"

if [ "$(id -u)" -ne 0 ]; then # setpriv --reuid, owners of 0
	echo "$E2E_NAME: SKIP: needs root"
	exit 77 # ctest: skipped (SKIP_RETURN_CODE)
fi
NOBODY=65534
as_nobody() {
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"
}
owner() { stat -c %u:%g "$1"; }

chmod 755 "$TMP" # the other user must reach the mountpoint

step "another user creates a diary, a file and a directory, and writes them"
e2e_mount allow_other
chmod 1777 "$MNT"
as_nobody sh -c "echo one >> '$MNT/n.log'; echo two >> '$MNT/n.log'" ||
	fail "nobody could not append twice to the diary it created"
as_nobody sh -c "echo x > '$MNT/nf' && echo y > '$MNT/nf'" ||
	fail "nobody could not rewrite the file it created"
as_nobody mkdir "$MNT/nd"
as_nobody sh -c "echo z > '$MNT/nd/inner'" ||
	fail "nobody could not create a file in its directory"
for f in n.log nf nd nd/inner; do
	expect_eq "owner of $f" "$NOBODY:$NOBODY" "$(owner "$MNT/$f")"
done
expect_eq "the diary read by its owner" "one
two" "$(as_nobody cat "$MNT/n.log")"

step "root's files: another user may read, not write; chown and chgrp"
echo root >"$MNT/rf"
expect_eq "owner of root's file" "0:0" "$(owner "$MNT/rf")"
expect_fail "nobody writing root's file" "Permission denied" \
	as_nobody sh -c "echo no > '$MNT/rf'"
expect_eq "root's file unchanged" root "$(as_nobody cat "$MNT/rf")"
chown 1234:5678 "$MNT/rf"
expect_eq "owner after chown" "1234:5678" "$(owner "$MNT/rf")"
chgrp 99 "$MNT/rf"
expect_eq "owner after chgrp" "1234:99" "$(owner "$MNT/rf")"
chown "$NOBODY" "$MNT/n.log"
expect_fail "nobody giving its file away" "Operation not permitted" \
	as_nobody chown 1234 "$MNT/nf"
chown "$NOBODY:$NOBODY" "$MNT/rf"
as_nobody sh -c "echo mine > '$MNT/rf'" ||
	fail "nobody could not write the file root gave it"
chown 0:0 "$MNT/rf"
as_nobody sh -c "echo s > '$MNT/suid' && chmod 6755 '$MNT/suid'"
expect_eq "mode of nobody's set-id file" 6755 "$(stat -c %a "$MNT/suid")"
chown 0 "$MNT/suid"
expect_eq "mode after root took the set-id file" 755 \
	"$(stat -c %a "$MNT/suid")"
echo w >"$MNT/openw"
chmod 6777 "$MNT/openw"
as_nobody sh -c "echo more >> '$MNT/openw'"
expect_eq "mode of root's set-id file after another user wrote it" 777 \
	"$(stat -c %a "$MNT/openw")"

step "a set-group-id directory hands its group down"
mkdir "$MNT/sg"
chgrp 4321 "$MNT/sg"
chmod 2775 "$MNT/sg"
touch "$MNT/sg/f"
mkdir "$MNT/sg/sub"
echo a >>"$MNT/sg/log"
expect_eq "group of a file in it" "0:4321" "$(owner "$MNT/sg/f")"
expect_eq "group of a diary in it" "0:4321" "$(owner "$MNT/sg/log")"
expect_eq "group of a directory in it" "0:4321" "$(owner "$MNT/sg/sub")"
case $(stat -c %A "$MNT/sg/sub") in
??????s*) ;;
*) fail "the subdirectory lacks the set-group-id bit: $(stat -c %A "$MNT/sg/sub")" ;;
esac

step "owners survive a remount"
e2e_umount
e2e_mount allow_other
expect_eq "owner of the diary after remount" "$NOBODY:$NOBODY" \
	"$(owner "$MNT/n.log")"
expect_eq "owner of nobody's directory after remount" "$NOBODY:$NOBODY" \
	"$(owner "$MNT/nd")"
expect_eq "owner of root's file after remount" "0:0" "$(owner "$MNT/rf")"
expect_eq "group in the set-group-id directory after remount" "0:4321" \
	"$(owner "$MNT/sg/sub")"
expect_eq "the diary after remount" "one
two" "$(cat "$MNT/n.log")"

step "without allow_other every file is the mount's user's"
e2e_umount
e2e_mount
for f in n.log nf nd rf sg/sub; do
	expect_eq "owner of $f on a one-user mount" "0:0" "$(owner "$MNT/$f")"
done
echo one-user >"$MNT/made-alone"
expect_fail "chown on a one-user mount" "Operation not permitted" \
	chown 1234 "$MNT/rf"
ct=$(stat -c %.9Z "$MNT/rf")
chown 0:0 "$MNT/rf" # to the owner it shows: accepted, ctime set
[ "$(stat -c %.9Z "$MNT/rf" | tr -d .)" -gt "$(echo "$ct" | tr -d .)" ] ||
	fail "a chown to the owner it shows did not set ctime"
e2e_umount

step "the owners recorded before are still there"
e2e_mount allow_other
expect_eq "owner of nobody's file" "$NOBODY:$NOBODY" "$(owner "$MNT/nf")"
expect_eq "owner of a file made on the one-user mount" "0:0" \
	"$(owner "$MNT/made-alone")"
e2e_umount
echo "test_owners: OK"
