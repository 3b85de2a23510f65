package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VmConfigTest {
    @TempDir
    Path tmp;

    private VmConfig.Builder ok() {
        return VmConfig.builder().kernel(Path.of("/k/vmlinux")).runDir(Path.of("/run/nemu/x"));
    }

    private void bad(String field, String fragment, UnaryOperator<VmConfig.Builder> change) {
        VmConfigException e = assertThrows(VmConfigException.class, () -> change.apply(ok()).build());
        assertEquals(field, e.field(), e.getMessage());
        assertTrue(e.getMessage().contains("'" + field + "'"), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    @Test
    void defaults() {
        VmConfig c = ok().build();
        assertEquals(MachineProfile.virt(), c.profile());
        assertEquals(1, c.vcpus());
        assertEquals(1, c.maxVcpus());
        assertEquals(512, c.maxMemoryMib());
        assertEquals(null, c.sharedTag());
        assertEquals(0, c.agentPort());
        assertEquals(CacheMode.AUTO, c.sharedCache());
        assertEquals(Accelerator.AUTO, c.accelerator());
        assertEquals(Path.of("/run/nemu/x/console.log"), c.consoleLog());
        assertEquals(Path.of("/usr/lib/qemu/virtiofsd"), c.virtiofsdBinary());
        assertEquals(QemuFeatures.SANDBOX, c.seccompSandbox());
        assertEquals(null, ok().seccompSandbox("").build().seccompSandbox(), "empty: no sandbox, on purpose");
    }

    @Test
    void valuesAreCheckedByName() {
        bad("kernel", "missing", b -> b.kernel(null));
        bad("profile", "missing", b -> b.profile(null));
        bad("vcpus", "got 0", b -> b.vcpus(0));
        bad("memoryMib", "got 16", b -> b.memoryMib(16));
        bad("maxVcpus", "cannot hotplug", b -> b.vcpus(2).maxVcpus(4));
        bad("memorySlots", "cannot hotplug", b -> b.memorySlots(2));
        bad("pciRootPorts", "cannot hotplug", b -> b.pciRootPorts(1));
        bad("maxVcpus", "got 1", b -> b.profile(MachineProfile.virtHotplug()).vcpus(2).maxVcpus(1));
        bad("maxMemoryMib", "must exceed", b -> b.profile(MachineProfile.virtHotplug()).memorySlots(2));
        bad("memorySlots", "must be > 0", b -> b.profile(MachineProfile.virtHotplug()).maxMemoryMib(4096));
        bad("sharedTag", "without spaces", b -> b.sharedTag("a b"));
        bad("sharedTag", "1..36 bytes", b -> b.sharedTag("x".repeat(37)));
        bad("sharedTag", "required with a sharedDir", b -> b.sharedDir(Path.of("/srv/share")));
        bad("agentPort", "required with the HYBRID_VSOCK", b -> b.agentTransport(AgentTransport.HYBRID_VSOCK));
        bad("agentPort", "required with the VSOCK", b -> b.agentTransport(AgentTransport.VSOCK));
        bad("agentPort", "not be negative", b -> b.agentPort(-1));
        bad("runDir", "absolute", b -> b.runDir(Path.of("rel")));
        bad("runDir", "too long", b -> b.runDir(Path.of("/" + "d".repeat(100))));
        bad("kernelArgs", "line break", b -> b.kernelArg("a\nb"));
        bad("startTimeout", "positive", b -> b.startTimeout(java.time.Duration.ZERO));
        bad("seccompSandbox", "got 'off'", b -> b.seccompSandbox("off"));
        bad("seccompSandbox", "starting with 'on'", b -> b.seccompSandbox("on,spawn=deny -daemonize"));
    }

    @Test
    void sharedTagAndAgentPortAreTheCallersValues() {
        VmConfig c = ok().sharedDir(Path.of("/srv/share")).sharedTag("myTag")
                .agentTransport(AgentTransport.VSOCK).agentPort(2048).build();
        assertEquals("myTag", c.sharedTag());
        assertEquals(2048, c.agentPort());
        assertEquals(0, ok().agentTransport(AgentTransport.SERIAL).build().agentPort());
    }

    @Test
    void toBuilderKeepsEveryFieldAndTheWithMethodsChangeOnlyTheirs() {
        VmConfig c = ok().profile(MachineProfile.virtHotplug()).kernelArg("quiet").vcpus(2).maxVcpus(4).memorySlots(2)
                .maxMemoryMib(2048).pciRootPorts(3).sharedDir(Path.of("/srv/share")).sharedTag("t")
                .agentTransport(AgentTransport.VSOCK).agentPort(1024).freePageReporting(true).seccompSandbox(null)
                .tcgTbSizeMib(48).virtioMem(true).build();
        assertEquals(c, c.toBuilder().build());
        VmConfig small = c.withTcgTbSize(16);
        assertEquals(16, small.tcgTbSizeMib());
        assertEquals(c, small.withTcgTbSize(48));
        assertEquals(c, c.withNetwork(c.netDevices(), c.netns()));
    }

    @Test
    void hotplugReservesAccepted() {
        VmConfig c = ok().profile(MachineProfile.virtHotplug()).vcpus(2).maxVcpus(8).memorySlots(4)
                .maxMemoryMib(4096).pciRootPorts(2).build();
        assertEquals(8, c.maxVcpus());
    }

    @Test
    void hostChecksNameTheFile() throws Exception {
        Path kernel = Files.writeString(tmp.resolve("vmlinux"), "x");
        VmConfigException e = assertThrows(VmConfigException.class,
                () -> ok().kernel(tmp.resolve("missing")).build().checkHost());
        assertEquals("kernel", e.field());
        assertTrue(e.getMessage().contains(tmp.resolve("missing").toString()));

        e = assertThrows(VmConfigException.class, () -> ok().kernel(kernel).initrd(tmp).build().checkHost());
        assertEquals("initrd", e.field());
        assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());

        Path empty = Files.createFile(tmp.resolve("empty.img"));
        e = assertThrows(VmConfigException.class, () -> ok().kernel(kernel).initrd(empty).build().checkHost());
        assertEquals("initrd", e.field());
        assertTrue(e.getMessage().contains("empty"), e.getMessage());

        e = assertThrows(VmConfigException.class,
                () -> ok().kernel(kernel).qemuBinary(tmp.resolve("qemu")).build().checkHost());
        assertEquals("qemuBinary", e.field());

        e = assertThrows(VmConfigException.class,
                () -> ok().kernel(kernel).sharedDir(tmp.resolve("nope")).sharedTag("t").build().checkHost());
        assertEquals("sharedDir", e.field());

        e = assertThrows(VmConfigException.class, () -> ok().kernel(kernel).sharedDir(tmp).sharedTag("t")
                .virtiofsdBinary(kernel).build().checkHost());
        assertEquals("virtiofsdBinary", e.field());
    }

    @Test
    void enumsParseWithNamedErrors() {
        assertEquals(Accelerator.KVM, Accelerator.parse("kvm"));
        assertEquals("accelerator", assertThrows(VmConfigException.class, () -> Accelerator.parse("hvf")).field());
        assertEquals(CacheMode.NONE, CacheMode.parse("none"));
        assertEquals("sharedCache", assertThrows(VmConfigException.class, () -> CacheMode.parse("mmap")).field());
    }

    @Test
    void netDevicesAreCheckedByName() {
        bad("netDevices.mac", "02:00:00:00:00:01", b -> b.netDevice(new NetDevice("net0", "tap0_kata", "02:00:00:00:01")));
        bad("netDevices.mac", "multicast", b -> b.netDevice(new NetDevice("net0", "tap0_kata", "01:00:5e:00:00:01")));
        bad("netDevices.mac", "zeros", b -> b.netDevice(new NetDevice("net0", "tap0_kata", "00:00:00:00:00:00")));
        bad("netDevices.tap", "longer than 15", b -> b.netDevice(new NetDevice("net0", "tap0_kata_too_long",
                "02:00:00:00:00:01")));
        bad("netDevices.tap", "not a valid interface name", b -> b.netDevice(new NetDevice("net0", "tap,0",
                "02:00:00:00:00:01")));
        bad("netDevices.tap", "missing", b -> b.netDevice(new NetDevice("net0", "", "02:00:00:00:00:01")));
        bad("netDevices.id", "a letter", b -> b.netDevice(new NetDevice("0net", "tap0_kata", "02:00:00:00:00:01")));
        bad("netDevices", "tap 'tap0_kata' is used twice", b -> b
                .netDevice(new NetDevice("net0", "tap0_kata", "02:00:00:00:00:01"))
                .netDevice(new NetDevice("net1", "tap0_kata", "02:00:00:00:00:02")));
        bad("netns", "absolute", b -> b.netns(Path.of("netns/x")));
        VmConfig c = ok().netDevice(new NetDevice("net0", "tap0_kata", "D2:04:8E:79:3B:AD")).build();
        assertEquals("d2:04:8e:79:3b:ad", c.netDevices().get(0).mac());
        assertTrue(ok().build().netDevices().isEmpty());
    }

    @Test
    void missingNetnsIsAHostError() throws Exception {
        Path kernel = Files.writeString(tmp.resolve("vmlinux"), "k");
        VmConfig c = ok().kernel(kernel).qemuBinary(Path.of("/bin/true")).netns(tmp.resolve("no-such-netns")).build();
        VmConfigException e = assertThrows(VmConfigException.class, c::checkHost);
        assertEquals("netns", e.field());
        assertTrue(e.getMessage().contains("no-such-netns"), e.getMessage());
    }
}
