package io.nemu.vmm;

/** How QEMU runs guest code. AUTO means KVM when the probe says it can run a guest, else TCG. */
public enum Accelerator {
    AUTO, KVM, TCG;

    public static Accelerator parse(String s) {
        for (Accelerator a : values()) {
            if (a.name().equalsIgnoreCase(s)) {
                return a;
            }
        }
        throw new VmConfigException("accelerator", "'" + s + "' is not one of auto, kvm, tcg");
    }
}
