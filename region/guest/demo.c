/* The demo sandbox: guests/demo.S, built into the daemon. */
#include "region/guest/guest.h"
#include "region/sandbox/sandbox.h"

/* guests/embed.sh generates them from the demo's ELF. */
extern const unsigned char guest_demo_elf[];
extern const size_t guest_demo_elf_len;

int guest__demo(struct sandbox *sb, uint64_t *entry, uint64_t *stack,
		struct why *why)
{
	int ret;

	ret = sandbox__add_mapped(sb, "ram", GUEST_DEMO_RAM_SIZE,
				  GUEST_DEMO_RAM_GPA, why);
	if (!ret)
		ret = sandbox__add_mapped(sb, "heartbeat",
					  GUEST_DEMO_HEARTBEAT_SIZE,
					  GUEST_DEMO_HEARTBEAT_GPA, why);
	if (ret)
		return ret;
	ret = guest__load_elf_mem(sb, guest_demo_elf, guest_demo_elf_len,
				  entry, why);
	if (ret)
		return why__prefix(why, ret, "the demo guest: ");
	*stack = GUEST_DEMO_RAM_GPA + GUEST_DEMO_RAM_SIZE;
	return 0;
}
