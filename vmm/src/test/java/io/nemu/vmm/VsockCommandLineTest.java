package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.channel.AgentChannel;
import io.nemu.vmm.channel.HybridVsockChannel;
import io.nemu.vmm.channel.VhostVsockChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** QEMU arguments of the two vsock agent channels on both machine profiles. */
class VsockCommandLineTest {
    private static final Path RUN = Path.of("/run/nemu/vm1");
    private static final int PORT = 1024;

    private static VmConfig config(MachineProfile p, AgentTransport t) {
        VmConfig.Builder b = VmConfig.builder().profile(p).kernel(Path.of("/k/vmlinux")).runDir(RUN).agentTransport(t)
                .agentPort(PORT);
        return b.build();
    }

    private static List<String> devicesAndChardevs(VmConfig c, AgentChannel ch) {
        List<String> a = QemuCommandLine.build(c, RunPaths.of(c), Accelerator.TCG, OptionalLong.empty(), ch);
        List<String> out = new ArrayList<>();
        for (int i = 0; i + 1 < a.size(); i++) {
            if (a.get(i).equals("-device") || a.get(i).equals("-chardev") && a.get(i + 1).contains("vsock")) {
                out.add(a.get(i) + " " + a.get(i + 1));
            }
        }
        return out;
    }

    @Test
    void hybridOnMicrovm() {
        VmConfig c = config(MachineProfile.virt(), AgentTransport.HYBRID_VSOCK);
        RunPaths p = RunPaths.of(c);
        assertEquals(Path.of("/run/nemu/vm1/vsock"), p.vsockSocket());
        assertEquals(List.of("-chardev socket,id=vsock0,path=/run/nemu/vm1/vsock-vu.sock",
                "-device vhost-user-vsock-device,id=vsock0dev,chardev=vsock0"),
                devicesAndChardevs(c, HybridVsockChannel.describe(p.vhostUserVsockSocket(), p.vsockSocket(), PORT)));
    }

    @Test
    void hybridOnQ35IsModernPci() {
        VmConfig c = config(MachineProfile.virtHotplug(), AgentTransport.HYBRID_VSOCK);
        RunPaths p = RunPaths.of(c);
        List<String> d = devicesAndChardevs(c, HybridVsockChannel.describe(p.vhostUserVsockSocket(), p.vsockSocket(), PORT));
        assertTrue(d.contains("-device vhost-user-vsock-pci,id=vsock0dev,chardev=vsock0,disable-legacy=on"), d.toString());
    }

    @Test
    void kernelVhostVsockCarriesTheCid() {
        VmConfig c = config(MachineProfile.virt(), AgentTransport.VHOST_VSOCK);
        assertEquals(List.of("-device vhost-vsock-device,id=vsock0dev,guest-cid=77"),
                devicesAndChardevs(c, new VhostVsockChannel(77, PORT, RUN.resolve("relay"))));
        VmConfig q = config(MachineProfile.virtHotplug(), AgentTransport.VHOST_VSOCK);
        assertTrue(devicesAndChardevs(q, new VhostVsockChannel(4_000_000_000L, PORT, RUN.resolve("relay")))
                .contains("-device vhost-vsock-pci,id=vsock0dev,guest-cid=4000000000,disable-legacy=on"));
        assertThrows(IllegalArgumentException.class, () -> new VhostVsockChannel(2, PORT, RUN));
        assertThrows(IllegalArgumentException.class, () -> new VhostVsockChannel(0xffffffffL, PORT, RUN));
    }

    @Test
    void runDirMustLeaveRoomForGuestPortSockets() {
        // 107 bytes of sun_path: "<runDir>/vsock_4294967295" must fit.
        Path longDir = Path.of("/" + "d".repeat(91));
        VmConfig ok = VmConfig.builder().kernel(Path.of("/k")).runDir(longDir).agentTransport(AgentTransport.SERIAL)
                .build();
        assertEquals(longDir, ok.runDir());
        VmConfigException e = assertThrows(VmConfigException.class, () -> VmConfig.builder().kernel(Path.of("/k"))
                .runDir(longDir).agentTransport(AgentTransport.HYBRID_VSOCK).agentPort(PORT).build());
        assertEquals("runDir", e.field());
        assertTrue(e.getMessage().contains("vsock_4294967295"), e.getMessage());
    }
}
