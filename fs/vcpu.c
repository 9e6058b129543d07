/* vcpu: the guest's state; write run, pause or stop. */
#include "fs/from.h"
#include "fs/node.h"
#include "region/kvm/vcpu.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int vcpu_render(struct node *n, char *buf, size_t len)
{
	enum vcpu_state s = rfs.vcpu ? vcpu__state(rfs.vcpu) : VCPU_STOPPED;

	(void)n;
	return snprintf(buf, len, "%s\n", vcpu__state_name(s));
}

static void vcpu_stat(struct node *n, struct stat *st)
{
	char buf[ATTR_TEXT_MAX];

	st->st_size = vcpu_render(n, buf, sizeof(buf));
}

/* Why the transition was refused, from the state it was refused in. */
static const char *refused_why(const char *val, int err, enum vcpu_state s)
{
	switch (err) {
	case EINVAL:
		return s == VCPU_FAULTED || s == VCPU_HALTED ?
		       "the guest halted or faulted: write stop, then run" :
		       "only a running vCPU can be paused";
	case EBUSY:
		return strcmp(val, "run") == 0 ?
		       "an exclusive operation on a mapped region is under way" :
		       "the vCPU did not leave KVM_RUN in time";
	default:
		return strerror(err);
	}
}

static int transition(const char *val)
{
	char fault[160];
	enum vcpu_state s;
	int ret;

	s = vcpu__state(rfs.vcpu);
	if (strcmp(val, "run") == 0) {
		struct why why = { "" };

		/* Never on saved bytes that failed their check, or before. */
		ret = from__ready(&why);
		if (ret) {
			fs_refuse("vcpu: write 'run' refused: %s",
				  why__text(&why, ret));
			return ret;
		}
		ret = vcpu__run(rfs.vcpu);
	}
	else if (strcmp(val, "pause") == 0)
		ret = vcpu__pause(rfs.vcpu);
	else
		ret = vcpu__stop(rfs.vcpu);
	if (!ret)
		return 0;
	if (ret == EINVAL && s == VCPU_FAULTED) {
		vcpu__fault_copy(rfs.vcpu, fault, sizeof(fault));
		fs_refuse("vcpu: write '%s' refused: %s (fault: %s)", val,
			  refused_why(val, ret, s), fault);
		return ret;
	}
	fs_refuse("vcpu: write '%s' refused: %s (%s)", val,
		  refused_why(val, ret, s), strerror(ret));
	return ret;
}

static int vcpu_write(struct handle *h, const char *buf, size_t size,
		      off_t off)
{
	char val[PARSE_VALUE_MAX];
	int ret;

	(void)h;
	ret = text__value("vcpu", buf, size, off, val, sizeof(val));
	if (ret)
		return ret;
	if (strcmp(val, "run") && strcmp(val, "pause") && strcmp(val, "stop")) {
		fs_refuse("vcpu: write '%s' refused: write run, pause or stop",
			  val);
		return EINVAL;
	}
	if (!rfs.vcpu) {
		fs_refuse("vcpu: write '%s' refused: %s", val, rfs.sb->vm ?
			  "no guest (start regionfs with --guest FILE or "
			  "--demo)" :
			  "no KVM: this sandbox can only be inspected");
		return ENODEV;
	}
	return transition(val);
}

const struct node_ops vcpu_ops = {
	.stat = vcpu_stat,
	.read = text__read,
	.write = vcpu_write,
	.render = vcpu_render,
	.size = text__size,
};
