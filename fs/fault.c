/*
 * fault: why the vCPU last faulted, "name value" per line (the record of
 * region/kvm/inspect.h); empty when it never did.  It stays until the next
 * fault (a stop and run do not clear it; a restore puts back the one the
 * snapshot had), so it still says why after the vCPU was stopped.
 */
#include "fs/longtext.h"
#include "region/kvm/inspect.h"

#include <inttypes.h>
#include <time.h>

static int fault_render(struct sbuf *b, const char **why)
{
	struct vcpu_fault f;
	struct tm tm;
	char when[32];

	(void)why;
	if (!rfs.vcpu)
		return 0;
	vcpu__fault_info(rfs.vcpu, &f);
	if (!f.valid)
		return 0;
	if (f.exit_reason == VCPU_FAULT_NO_EXIT)
		sbuf__printf(b, "exit_reason none\n");
	else
		sbuf__printf(b, "exit_reason %" PRIu32 " %s\n", f.exit_reason,
			     f.exit_name);
	if (f.has_rip)
		sbuf__printf(b, "rip 0x%016" PRIx64 "\n", f.rip);
	if (f.memory) {
		sbuf__printf(b, "gpa 0x%016" PRIx64 "\n", f.gpa);
		sbuf__printf(b, "access %s\n", f.write ? "write" : "read");
		sbuf__printf(b, "size %" PRIu32 "\n", f.len);
		sbuf__printf(b, "region %s\n", f.region[0] ? f.region : "none");
		if (f.region[0])
			sbuf__printf(b, "region_access %s\n",
				     f.region_ro ? "ro" : "rw");
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z",
		 localtime_r(&f.when.tv_sec, &tm));
	sbuf__printf(b, "time %s\n", when);
	sbuf__printf(b, "message %s\n", f.text);
	return 0;
}

/* The record changes only (a fault leaves running) with the vCPU's state (inspect.h). */
static uint64_t fault_gen(void)
{
	return rfs.vcpu ? vcpu__gen(rfs.vcpu) : 0;
}

static struct longtext text = LONGTEXT_INIT(fault_render, fault_gen, 0, 0);

const struct node_ops fault_ops = LONGTEXT_OPS(&text);
