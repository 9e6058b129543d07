/* The demo sandbox: guests/demo.S, built into the daemon. */
#include "region/guest.h"
#include "region/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* guests/embed.sh generates them from the demo's ELF. */
extern const unsigned char guest_demo_elf[];
extern const size_t guest_demo_elf_len;

static int add_region(struct sandbox *sb, const char *name, uint64_t size,
		      uint64_t gpa, char *why, size_t why_len)
{
	struct region *r;
	int ret;

	ret = sandbox__create(sb, name, size, NULL);
	if (ret) {
		snprintf(why, why_len, "cannot create region %s: %s", name,
			 strerror(ret));
		return ret;
	}
	r = sandbox__find(sb, name, NULL);
	if (!r)
		return ENOENT;
	ret = sandbox__set_guest_addr(sb, r, false, gpa);
	if (ret)
		snprintf(why, why_len, "cannot map region %s at 0x%llx: %s",
			 name, (unsigned long long)gpa, strerror(ret));
	region__put(r);
	return ret;
}

int guest__demo(struct sandbox *sb, uint64_t *entry, uint64_t *stack,
		char *why, size_t why_len)
{
	char inner[400];
	int ret;

	ret = add_region(sb, "ram", GUEST_DEMO_RAM_SIZE, GUEST_DEMO_RAM_GPA,
			 why, why_len);
	if (ret)
		return ret;
	ret = add_region(sb, "heartbeat", GUEST_DEMO_HEARTBEAT_SIZE,
			 GUEST_DEMO_HEARTBEAT_GPA, why, why_len);
	if (ret)
		return ret;
	ret = guest__load_elf_mem(sb, guest_demo_elf, guest_demo_elf_len,
				  entry, inner, sizeof(inner));
	if (ret) {
		snprintf(why, why_len, "the demo guest: %s", inner);
		return ret;
	}
	*stack = GUEST_DEMO_RAM_GPA + GUEST_DEMO_RAM_SIZE;
	return 0;
}
