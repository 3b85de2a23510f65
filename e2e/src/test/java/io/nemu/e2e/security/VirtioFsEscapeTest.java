package io.nemu.e2e.security;

import io.nemu.contract.GuestContract;
import io.nemu.proto.cri.Capability;
import io.nemu.proto.cri.LinuxContainerSecurityContext;
import java.util.List;

/**
 * {@link ShareEscapeTest} against a booted pod's virtio-fs share: virtiofsd (its own namespace, pivot_root into
 * the folder, seccomp) and the shim's layout confine it. A container with CAP_SYS_ADMIN mounts the tag
 * {@link GuestContract#SHARED_FS_TAG} itself at {@code /share} and runs the attacks there.
 */
class VirtioFsEscapeTest extends ShareEscapeTest {
    @Override
    String bridge() {
        return "nemu-esc0";
    }

    @Override
    String subnet() {
        return "10.217.77.0/24";
    }

    @Override
    LinuxContainerSecurityContext attacker() {
        return LinuxContainerSecurityContext.newBuilder()
                .setCapabilities(Capability.newBuilder().addAddCapabilities("SYS_ADMIN")).build();
    }

    @Override
    String share() {
        return "/share";
    }

    @Override
    List<String> prelude() {
        return List.of("mkdir -p /share && mount -t virtiofs " + GuestContract.SHARED_FS_TAG
                + " /share || { echo MOUNT-FAILED; exit 1; }");
    }

    @Override
    List<String> command(String script) {
        return List.of("sh", "-c", script);
    }
}
