/*
 * --from DIR (-o from=DIR): the sandbox as a saved snapshot directory
 * left it (region/sandbox/load.c does the work and says why it refuses).
 * The vCPU stays paused: `echo run > vcpu` goes on from the snapshot
 * point.
 */
#include "fs/from.h"
#include "fs/state.h"
#include "region/kvm/vcpu.h"
#include "region/sandbox/chain.h"
#include "region/sandbox/lease.h"
#include "region/sandbox/sandbox.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/*
 * Hears of writers of the files the copy-on-write regions map (lease.h),
 * for as long as the daemon runs.
 */
static struct lease_watch watch = { .vcpu = &rfs.vcpu, .log = fs_log_vcpu };

int from__load(const char *dir, bool unchecked, bool copy,
	       uint64_t console_max)
{
	struct vcpu_config cfg = { .log = fs_log_vcpu, .console_max = console_max };
	struct load_check chk = { .unchecked = unchecked, .from_copy = copy };
	struct why why = { "" };
	int ret;

	if (!dir)
		return 0;
	if (!copy && lease__start(&watch, &why) == 0)
		chk.lease = &watch.lease;
	else if (!copy)
		fs_log("--from %s: every region is copied: %s", dir,
		       why__text(&why, EAGAIN));
	/* The directory says what the sandbox is: nothing else may. */
	if (rfs.sb->nr || rfs.vcpu) {
		fs_log_err("--from %s: it cannot be combined with --region, "
			   "--guest or --demo", dir);
		return EINVAL;
	}
	ret = sandbox__load_dir_checked(rfs.sb, dir, &cfg, &rfs.vcpu, &chk,
					&why);
	if (ret) {
		fs_log_err("--from %s: %s", dir, why__text(&why, ret));
		return ret;
	}
	fs_log("started from %s: %u region(s) (%u mapped copy-on-write, %u "
	       "copied), the vCPU %s", dir, rfs.sb->nr, chk.cow, chk.copied,
	       rfs.vcpu ? vcpu__state_name(vcpu__state(rfs.vcpu)) : "none");
	if (chk.cow && !unchecked)
		fs_log("started from %s: its bytes are being checked against "
		       "their checksums: reads of them and the vCPU wait for the "
		       "verdict", dir);
	/* Said once: what was not checked, and why. */
	if (unchecked)
		fs_log("started from %s: its bytes were not checked against "
		       "their checksums (-o from_unchecked)", dir);
	else if (chk.unrecorded)
		fs_log("started from %s: unchecked: %u of its snapshot(s) "
		       "record no checksums (saved before regionfs recorded "
		       "them)", dir, chk.unrecorded);
	return 0;
}

int from__ready(struct why *why)
{
	return sandbox__from_wait(rfs.sb, FROM_WAIT_MS, why);
}

void from__stop(void)
{
	lease__stop(&watch);
}
