package io.nemu.shim.cli.check;

import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AcceleratorProbe;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CPU virtualization and whether KVM can run the guest: the vmm's real probe (a tiny guest booted under KVM with
 * {@code -cpu host}), else TCG with what it costs.
 */
final class AcceleratorCheck {
    private static final Pattern FLAGS = Pattern.compile("(?m)^flags\\s*:(.*)$");
    /** Measured on 2-core TCG hosts (host notes): agent ready ~9 s; under KVM about a second. */
    static final String TCG_COST = "software emulation: a sandbox VM needs ~10 s to its agent instead of ~1 s under"
            + " KVM, guest code runs many times slower, and QEMU's code cache adds up to tcg_tb_size (48 MiB by default) per VM";

    private AcceleratorCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        List<CheckResult> out = new ArrayList<>();
        String flags = c.host().read("/proc/cpuinfo").map(FLAGS::matcher).filter(Matcher::find)
                .map(m -> " " + m.group(1) + " ").orElse("");
        String ext = flags.contains(" vmx ") ? "vmx (Intel VT-x)" : flags.contains(" svm ") ? "svm (AMD-V)" : null;
        if (ext != null) {
            out.add(CheckResult.pass("cpu virtualization", ext));
        } else {
            out.add(CheckResult.warn("cpu virtualization", "the CPU shows no vmx/svm flag"
                    + (flags.contains(" hypervisor ") ? " (a VM without nested virtualization)" : ""),
                    "enable VT-x/AMD-V (firmware settings, or nested virtualization of the outer hypervisor) for KVM"));
        }
        if (c.config() == null) {
            return out;
        }
        Accelerator wanted = c.config().hypervisor().accelerator();
        if (wanted == Accelerator.TCG) {
            out.add(CheckResult.warn("accelerator", "TCG, as configured (accelerator = \"tcg\"): " + TCG_COST,
                    "set accelerator = \"auto\" on a host where KVM works"));
            return out;
        }
        if (c.fileProblem("hypervisor.qemu.path").isPresent()) {
            return out; // the qemu line names it; no probe without a QEMU
        }
        AcceleratorProbe.KvmCheck kvm = AcceleratorProbe.kvm(c.config().hypervisor().path());
        if (kvm.usable()) {
            out.add(CheckResult.pass("accelerator", "KVM: " + kvm.detail()));
        } else if (wanted == Accelerator.KVM) {
            out.add(CheckResult.fail("accelerator", "accelerator = \"kvm\" but KVM cannot run a guest here: "
                    + kvm.detail(), "fix KVM access (/dev/kvm, the kvm_intel/kvm_amd module) or set accelerator = \"auto\""));
        } else {
            out.add(CheckResult.warn("accelerator", "TCG, KVM unusable (" + kvm.detail() + "): " + TCG_COST,
                    "run on a host with usable KVM (load kvm_intel/kvm_amd, give access to /dev/kvm)"));
        }
        return out;
    }
}
