package io.nemu.shim.cli.check;

import java.util.ArrayList;
import java.util.List;

/** What the host kernel gives the pod's VM: the cgroup hierarchy, tun and vhost-net for the pod network, KSM. */
final class KernelCheck {
    private KernelCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        HostRoot h = c.host();
        List<CheckResult> out = new ArrayList<>();
        if (h.exists("/sys/fs/cgroup/cgroup.controllers")) {
            out.add(CheckResult.pass("cgroup", "v2 (unified): " + h.read("/sys/fs/cgroup/cgroup.controllers").orElse("")));
        } else if (h.exists("/sys/fs/cgroup/memory") && h.exists("/sys/fs/cgroup/cpu")) {
            out.add(CheckResult.pass("cgroup", "v1 (cpu, memory, pids hierarchies)"));
        } else {
            out.add(CheckResult.warn("cgroup", "no cgroup v2 and no v1 cpu/memory hierarchy under /sys/fs/cgroup",
                    "pod limits cannot bound the VM: mount cgroup2 or set sandbox_cgroup_only = false"));
        }
        boolean tun = h.exists("/dev/net/tun") || h.exists("/sys/module/tun");
        out.add(tun ? CheckResult.pass("module tun", "/dev/net/tun: pod networks get their taps")
                : CheckResult.fail("module tun", "no /dev/net/tun: pods with a network namespace cannot start",
                "modprobe tun"));
        boolean vhostNet = h.exists("/dev/vhost-net");
        out.add(vhostNet ? CheckResult.pass("module vhost_net", "/dev/vhost-net present")
                : CheckResult.warn("module vhost_net", "no /dev/vhost-net: QEMU moves the pod's packets itself",
                "modprobe vhost_net if this kernel has it (the shim does not ask for it yet)"));
        String ksm = h.read("/sys/kernel/mm/ksm/run").orElse("");
        out.add(switch (ksm) {
            case "1" -> CheckResult.pass("ksm", "on: equal pages of different VMs are merged");
            case "0", "2" -> CheckResult.pass("ksm", "off: every VM's memory is its own"
                    + " (echo 1 > /sys/kernel/mm/ksm/run merges equal pages between VMs, at some CPU)");
            default -> CheckResult.pass("ksm", "not available in this kernel");
        });
        return out;
    }
}
