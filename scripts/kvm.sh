# shellcheck shell=bash
# The one "is there a usable KVM?" probe, sourced by scripts/lib.sh (so by
# scripts/run, scripts/test, scripts/bench), tests/it/lib.sh and
# tests/kvmlab/run. It defines have_kvm and nothing else: the integration
# tests source it without scripts/lib.sh's installer, log and die.

# have_kvm: true when /dev/kvm is a character device that opens read-write,
# which is what the daemon needs for a VM (a node that exists but does not
# open, for want of permission or of the module, counts as no KVM).
have_kvm() {
	[ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null
}
