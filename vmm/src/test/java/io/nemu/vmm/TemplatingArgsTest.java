package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.channel.SerialAgentChannel;
import io.nemu.vmm.template.Templating;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** QEMU's arguments and the config's checks for a template and a clone (VmConfig.templating). */
class TemplatingArgsTest {
    private static final Path MEM = Path.of("/run/nemu/templates/t/memory");

    private static VmConfig.Builder base(MachineProfile p) {
        return VmConfig.builder().profile(p).kernel(Path.of("/k/vmlinux")).initrd(Path.of("/k/initrd.img"))
                .runDir(Path.of("/run/nemu/vm1")).agentTransport(AgentTransport.SERIAL)
                .sharedDir(Path.of("/srv/share")).sharedTag("kataShared");
    }

    private static List<String> args(VmConfig c) {
        return QemuCommandLine.build(c, RunPaths.of(c), Accelerator.TCG, OptionalLong.of(2_000_000),
                new SerialAgentChannel(RunPaths.of(c).agentSocket()));
    }

    @Test
    void templateWritesThroughItsRamFileAndExportsTheFolderBy9p() {
        List<String> a = args(base(MachineProfile.virt()).templating(new Templating.Build(MEM)).build());
        assertTrue(a.contains("memory-backend-file,id=mem,size=512M,mem-path=" + MEM + ",share=on"), a.toString());
        assertTrue(a.contains("local,id=fs0,path=/srv/share,security_model=none"), a.toString());
        assertTrue(a.contains("virtio-9p-device,id=virtiofs0,fsdev=fs0,mount_tag=kataShared"), a.toString());
        assertFalse(String.join(" ", a).contains("vhost-user-fs"), a.toString());
        assertFalse(a.contains("-incoming"));
    }

    @Test
    void cloneMapsTheRamFilePrivateAndWaitsForItsState() {
        List<String> a = args(base(MachineProfile.virtHotplug())
                .templating(new Templating.Clone(MEM, MEM.resolveSibling("state"))).build());
        assertTrue(a.contains("memory-backend-file,id=mem,size=512M,mem-path=" + MEM + ",share=off"), a.toString());
        assertTrue(a.contains("virtio-9p-pci,id=virtiofs0,fsdev=fs0,mount_tag=kataShared,disable-legacy=on"),
                a.toString());
        assertEquals("defer", a.get(a.indexOf("-incoming") + 1));
        assertEquals(1, Collections.frequency(a, "-incoming"));
    }

    @Test
    void withoutTemplatingRamStaysASharedMemfd() {
        List<String> a = args(base(MachineProfile.virt()).build());
        assertTrue(a.contains("memory-backend-memfd,id=mem,size=512M,share=on"), a.toString());
        assertFalse(a.contains("-fsdev"));
    }

    @Test
    void templatingRefusesVhostUserChannelsAndNics() {
        VmConfigException e = assertThrows(VmConfigException.class, () -> base(MachineProfile.virt())
                .agentTransport(AgentTransport.HYBRID_VSOCK).agentPort(1024).templating(new Templating.Build(MEM)).build());
        assertEquals("agentTransport", e.field());
        e = assertThrows(VmConfigException.class, () -> base(MachineProfile.virt())
                .netDevice(new NetDevice("net0", "tap0", "02:00:00:00:00:01"))
                .templating(new Templating.Build(MEM)).build());
        assertEquals("netDevices", e.field());
    }

    @Test
    void aCommaInTheRamFileIsRefused() {
        VmConfig c = base(MachineProfile.virt()).templating(new Templating.Build(Path.of("/run/a,b/memory"))).build();
        assertThrows(IllegalArgumentException.class, () -> args(c));
    }
}
