package io.nemu.shim.cli.check;

import io.nemu.vmm.channel.VhostVsockChannel;
import java.util.List;

/** The agent's vsock: the kernel's vhost-vsock when the host has it, else the shim's built-in vhost-user backend. */
final class VsockCheck {
    private VsockCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        if (c.host().exists(VhostVsockChannel.DEVICE)) {
            return List.of(CheckResult.pass("vsock", "kernel vhost-vsock (" + VhostVsockChannel.DEVICE + ")"));
        }
        return List.of(CheckResult.pass("vsock", "built-in vsock backend (vhost-user-vsock in the shim): no "
                + VhostVsockChannel.DEVICE + "; `modprobe vhost_vsock` gives the kernel's, which costs the shim less CPU"));
    }
}
