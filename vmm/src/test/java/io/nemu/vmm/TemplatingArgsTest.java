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
    void templatingRefusesVhostUserChannels() {
        VmConfigException e = assertThrows(VmConfigException.class, () -> base(MachineProfile.virt())
                .agentTransport(AgentTransport.HYBRID_VSOCK).agentPort(1024).templating(new Templating.Build(MEM)).build());
        assertEquals("agentTransport", e.field());
    }

    @Test
    void aCloneHasTheTemplatesNicsOnItsOwnTapsInItsOwnNamespace() {
        VmConfig clone = base(MachineProfile.virt()).netns(Path.of("/var/run/netns/cni-1"))
                .netDevice(new NetDevice("net0", "tap0_kata", "0a:58:0a:d9:48:07"))
                .templating(new Templating.Clone(MEM, MEM.resolveSibling("state"))).build();
        List<String> a = args(clone);
        assertEquals(List.of(VmConfig.NSENTER.toString(), "--net=/var/run/netns/cni-1", "--"), a.subList(0, 3));
        assertTrue(a.contains("tap,id=net0,ifname=tap0_kata,script=no,downscript=no"), a.toString());
        assertTrue(a.contains("virtio-net-device,netdev=net0,id=net0-dev,mac=0a:58:0a:d9:48:07"), a.toString());
        VmConfig build = clone.withTemplating(new Templating.Build(MEM), clone.runDir(), clone.sharedDir())
                .withNetwork(List.of(new NetDevice("net0", "tap0_kata", "02:6e:65:6d:75:00")), Path.of("/run/netns/t"));
        List<String> b = args(build);
        assertEquals("--net=/run/netns/t", b.get(1));
        assertTrue(b.contains("virtio-net-device,netdev=net0,id=net0-dev,mac=02:6e:65:6d:75:00"), b.toString());
    }

    @Test
    void aCommaInTheRamFileIsRefused() {
        VmConfig c = base(MachineProfile.virt()).templating(new Templating.Build(Path.of("/run/a,b/memory"))).build();
        assertThrows(IllegalArgumentException.class, () -> args(c));
    }
}
