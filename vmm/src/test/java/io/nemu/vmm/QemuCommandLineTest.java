package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.vmm.channel.SerialAgentChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class QemuCommandLineTest {
    private static final Path RUN = Path.of("/run/nemu/vm1");
    private static final OptionalLong TSC = OptionalLong.of(2445404);

    private static VmConfig.Builder base() {
        return VmConfig.builder().kernel(Path.of("/k/vmlinux")).initrd(Path.of("/k/initrd.img")).runDir(RUN)
                .kernelArg("nemu.fsprobe=1");
    }

    private static List<String> build(VmConfig c, Accelerator a) {
        return QemuCommandLine.build(c, RunPaths.of(c), a, TSC,
                c.agentTransport() == AgentTransport.SERIAL ? new SerialAgentChannel(RunPaths.of(c).agentSocket())
                        : null);
    }

    /** The value following {@code flag}; fails if the flag is absent. */
    private static String arg(List<String> argv, String flag) {
        int i = argv.indexOf(flag);
        assertTrue(i >= 0 && i + 1 < argv.size(), flag + " missing in " + argv);
        return argv.get(i + 1);
    }

    private static List<String> all(List<String> argv, String flag) {
        List<String> out = new java.util.ArrayList<>();
        for (int i = 0; i + 1 < argv.size(); i++) {
            if (argv.get(i).equals(flag)) {
                out.add(argv.get(i + 1));
            }
        }
        return out;
    }

    @Test
    void virtUnderTcg() {
        VmConfig c = base().vcpus(2).memoryMib(512).sharedDir(Path.of("/srv/share")).sharedTag("kataShared")
                .agentTransport(AgentTransport.SERIAL).build();
        List<String> a = build(c, Accelerator.TCG);
        assertEquals("/usr/bin/qemu-system-x86_64", a.get(0));
        assertEquals("microvm,acpi=on,pic=off,pit=off,x-option-roms=off,rtc=on,isa-serial=on,memory-backend=mem",
                arg(a, "-machine"));
        assertEquals("virtio-mmio.force-legacy=false", arg(a, "-global"));
        assertEquals("tcg", arg(a, "-accel"));
        assertFalse(a.contains("-cpu"));
        assertEquals("2", arg(a, "-smp"));
        assertEquals("512M", arg(a, "-m"));
        assertEquals("memory-backend-memfd,id=mem,size=512M,share=on", arg(a, "-object"));
        assertTrue(a.containsAll(List.of("-nodefaults", "-no-user-config", "-no-reboot")));
        assertEquals("none", arg(a, "-display"));
        assertTrue(arg(a, "-name").endsWith(",debug-threads=on"), "vCPU threads named for VcpuWait: " + arg(a, "-name"));
        assertEquals("/k/vmlinux", arg(a, "-kernel"));
        assertEquals("/k/initrd.img", arg(a, "-initrd"));
        assertEquals("console=ttyS0 panic=1 quiet nemu.accel=tcg tsc_early_khz=2445404 nemu.fsprobe=1", arg(a, "-append"));
        assertEquals("chardev:console", arg(a, "-serial"));
        List<String> chardevs = all(a, "-chardev");
        assertTrue(chardevs.contains("file,id=console,path=/run/nemu/vm1/console.log"), chardevs.toString());
        assertTrue(chardevs.contains("socket,id=qmp,path=/run/nemu/vm1/qmp.sock,server=on,wait=off"));
        assertTrue(chardevs.contains("socket,id=fs0,path=/run/nemu/vm1/virtiofsd.sock"));
        assertTrue(chardevs.contains("socket,id=agentch,path=/run/nemu/vm1/agent.sock,server=on,wait=off"));
        assertEquals("chardev=qmp,mode=control", arg(a, "-mon"));
        List<String> devices = all(a, "-device");
        assertEquals(List.of("vhost-user-fs-device,id=virtiofs0,chardev=fs0,tag=kataShared,queue-size=1024",
                "virtio-serial-device,id=vser0,max_ports=2",
                "virtserialport,id=agentport,bus=vser0.0,chardev=agentch,name=agent.channel.0"), devices);
        assertEquals(QemuFeatures.SANDBOX, arg(a, "-sandbox"));
        // No network unless asked for.
        assertTrue(a.stream().noneMatch(s -> s.startsWith("-net") || s.equals("-nic")), a.toString());
    }

    @Test
    void virtUnderKvmUsesHostCpuAndNoTscHint() {
        List<String> a = build(base().seccompSandbox(null).build(), Accelerator.KVM);
        assertEquals("kvm", arg(a, "-accel"));
        assertEquals("host", arg(a, "-cpu"));
        assertFalse(arg(a, "-append").contains("tsc_early_khz"));
        assertTrue(List.of(arg(a, "-append").split(" ")).contains("nemu.accel=kvm"), arg(a, "-append"));
        assertFalse(a.contains("-sandbox"));
        assertFalse(a.contains("-initrd") && !a.contains("/k/initrd.img"));
    }

    @Test
    void tcgCodeCacheBoundOnlyUnderTcg() {
        VmConfig c = base().tcgTbSizeMib(64).build();
        assertEquals("tcg,tb-size=64", arg(build(c, Accelerator.TCG), "-accel"));
        // KVM has no translation cache: the bound is not passed (QEMU would refuse tb-size with kvm).
        List<String> kvm = build(c, Accelerator.KVM);
        assertEquals("kvm", arg(kvm, "-accel"));
        assertTrue(kvm.stream().noneMatch(s -> s.contains("tb-size")), kvm.toString());
        // A VM that can gain vCPUs gets QEMU's own cache: a bound one aborts QEMU 7.2 on a later vCPU hot-add.
        VmConfig growable = VmConfig.builder().profile(MachineProfile.virtHotplug()).kernel(Path.of("/k/vmlinux"))
                .runDir(RUN).vcpus(1).maxVcpus(4).memoryMib(512).tcgTbSizeMib(64).build();
        assertEquals("tcg", arg(build(growable, Accelerator.TCG), "-accel"));
        VmConfig fixed = VmConfig.builder().profile(MachineProfile.virtHotplug()).kernel(Path.of("/k/vmlinux"))
                .runDir(RUN).vcpus(2).maxVcpus(2).memoryMib(512).tcgTbSizeMib(64).build();
        assertEquals("tcg,tb-size=64", arg(build(fixed, Accelerator.TCG), "-accel"));
        VmConfigException e = assertThrows(VmConfigException.class, () -> base().tcgTbSizeMib(-1).build());
        assertTrue(e.getMessage().contains("tcgTbSizeMib"), e.getMessage());
        assertThrows(VmConfigException.class, () -> base().tcgTbSizeMib(VmConfig.MAX_TCG_TB_SIZE_MIB + 1).build());
    }

    @Test
    void virtHotplugHasQ35RootPortsAndReserves() {
        VmConfig c = VmConfig.builder().profile(MachineProfile.virtHotplug()).kernel(Path.of("/k/vmlinux"))
                .runDir(RUN).vcpus(2).maxVcpus(8).memoryMib(1024).memorySlots(4).maxMemoryMib(8192)
                .pciRootPorts(3).sharedDir(Path.of("/srv/share")).sharedTag("kataShared").agentTransport(AgentTransport.SERIAL).build();
        List<String> a = build(c, Accelerator.TCG);
        assertEquals("q35,acpi=on,sata=off,smbus=off,usb=off,vmport=off,i8042=off,memory-backend=mem",
                arg(a, "-machine"));
        assertFalse(a.contains("-global"));
        assertEquals("2,maxcpus=8", arg(a, "-smp"));
        assertEquals("1024M,slots=4,maxmem=8192M", arg(a, "-m"));
        assertEquals("memory-backend-memfd,id=mem,size=1024M,share=on", arg(a, "-object"));
        assertFalse(a.contains("-initrd"));
        assertEquals("console=ttyS0 panic=1 quiet nemu.accel=tcg memhp_default_state=online swiotlb=noforce", arg(a, "-append"));
        List<String> devices = all(a, "-device");
        assertEquals(List.of("pcie-root-port,id=hotplug0,bus=pcie.0,chassis=1",
                "pcie-root-port,id=hotplug1,bus=pcie.0,chassis=2",
                "pcie-root-port,id=hotplug2,bus=pcie.0,chassis=3",
                "vhost-user-fs-pci,id=virtiofs0,chardev=fs0,tag=kataShared,queue-size=1024",
                "virtio-serial-pci,id=vser0,max_ports=2,disable-legacy=on",
                "virtserialport,id=agentport,bus=vser0.0,chardev=agentch,name=agent.channel.0"), devices);
    }

    @Test
    void virtioMemHoldsTheRoomAboveTheBootRamInOneEmptySharedDevice() {
        VmConfig c = VmConfig.builder().profile(MachineProfile.virtHotplug()).kernel(Path.of("/k/vmlinux"))
                .runDir(RUN).memoryMib(256).maxMemoryMib(1792).virtioMem(true).build();
        List<String> a = build(c, Accelerator.TCG);
        assertEquals("256M,slots=0,maxmem=1792M", arg(a, "-m"));
        assertEquals(List.of("memory-backend-memfd,id=mem,size=256M,share=on",
                "memory-backend-memfd,id=vmem0-ram,size=1536M,share=on"), all(a, "-object"));
        assertTrue(all(a, "-device").contains("virtio-mem-pci,id=vmem0,memdev=vmem0-ram,requested-size=0,disable-legacy=on"),
                a.toString());
        VmConfigException odd = assertThrows(VmConfigException.class, () -> VmConfig.builder()
                .profile(MachineProfile.virtHotplug()).kernel(Path.of("/k/vmlinux")).runDir(RUN).memoryMib(256)
                .maxMemoryMib(1793).virtioMem(true).build());
        assertTrue(odd.getMessage().contains("multiple of virtio-mem's 2 MiB block"), odd.getMessage());
        VmConfigException virt = assertThrows(VmConfigException.class, () -> base().memoryMib(256).virtioMem(true).build());
        assertTrue(virt.getMessage().contains("virtioMem"), virt.getMessage());
    }

    @Test
    void aRootImageIsAReadOnlyVirtioBlkDiskTheGuestMounts() {
        for (MachineProfile p : List.of(MachineProfile.virt(), MachineProfile.virtHotplug())) {
            List<String> a = build(base().profile(p).rootImage(Path.of("/g/root.img")).build(), Accelerator.TCG);
            assertEquals("file=/g/root.img,if=none,id=root,format=raw,readonly=on", arg(a, "-drive"));
            assertEquals(p.virtioBlkDevice() + ",drive=root" + p.virtioDeviceOptions(), arg(a, "-device"));
            assertTrue(arg(a, "-append").contains("root=/dev/vda rootfstype=erofs ro"), arg(a, "-append"));
        }
        List<String> none = build(base().build(), Accelerator.TCG);
        assertFalse(none.contains("-drive"));
        assertFalse(arg(none, "-append").contains("root="), arg(none, "-append"));
    }

    @Test
    void aPmemRootIsAReadOnlyPrivateMappingMountedWithDaxBesideTheHotplugRoom(@org.junit.jupiter.api.io.TempDir Path dir)
            throws java.io.IOException {
        Path img = dir.resolve("root.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(6L << 20);
        }
        VmConfig.Builder b = base().profile(MachineProfile.virtHotplug()).rootImage(img).rootDevice(RootDevice.VIRTIO_PMEM);
        List<String> a = build(b.build(), Accelerator.TCG);
        assertEquals(List.of("memory-backend-memfd,id=mem,size=512M,share=on", "memory-backend-file,id=root,mem-path="
                + img + ",size=" + (6L << 20) + ",share=off,readonly=on"), all(a, "-object"));
        assertEquals(List.of("virtio-pmem-pci,id=root-pmem,memdev=root,disable-legacy=on"), all(a, "-device"));
        assertFalse(a.contains("-drive"));
        assertTrue(arg(a, "-append").contains("root=/dev/pmem0 rootfstype=erofs rootflags=dax ro"), arg(a, "-append"));
        // The mapping needs a memory-device area: one slot at least, maxmem raised by the image's size.
        assertEquals("512M,slots=1,maxmem=518M", arg(a, "-m"));
        List<String> hot = build(b.memorySlots(4).maxMemoryMib(2048).build(), Accelerator.TCG);
        assertEquals("512M,slots=4,maxmem=2054M", arg(hot, "-m"));
    }

    @Test
    void aPmemRootNeedsQ35AndAnAlignedImage(@org.junit.jupiter.api.io.TempDir Path dir) throws java.io.IOException {
        VmConfigException e = assertThrows(VmConfigException.class,
                () -> base().rootImage(Path.of("/g/root.img")).rootDevice(RootDevice.VIRTIO_PMEM).build());
        assertTrue(e.getMessage().contains("microvm"), e.getMessage());
        Path img = java.nio.file.Files.write(dir.resolve("root.img"), new byte[4096]);
        VmConfig c = base().profile(MachineProfile.virtHotplug()).initrd(null).kernel(img).rootImage(img)
                .rootDevice(RootDevice.VIRTIO_PMEM).qemuBinary(Path.of("/bin/sh")).build();
        e = assertThrows(VmConfigException.class, c::checkHost);
        assertTrue(e.getMessage().contains("4096 bytes, not a multiple of 128 MiB"), e.getMessage());
        assertEquals(RootDevice.VIRTIO_BLK, RootDevice.of(MachineProfile.virt(), false));
        assertEquals(RootDevice.VIRTIO_PMEM, RootDevice.of(MachineProfile.virtHotplug(), false));
        assertEquals(RootDevice.VIRTIO_BLK, RootDevice.of(MachineProfile.virtHotplug(), true));
    }

    @Test
    void noShareNoVirtiofsDevice() {
        List<String> a = build(base().build(), Accelerator.TCG);
        assertTrue(all(a, "-device").isEmpty(), a.toString());
        assertEquals(2, all(a, "-chardev").size());
    }

    @Test
    void extraKernelArgsComeLast() {
        VmConfig c = base().kernelArg("loglevel=7").build();
        List<String> k = QemuCommandLine.kernelArgs(c, Accelerator.TCG, TSC);
        assertEquals("loglevel=7", k.get(k.size() - 1));
        assertTrue(k.indexOf("quiet") < k.indexOf("loglevel=7"));
    }

    @Test
    void unresolvedAcceleratorIsRefused() {
        VmConfig c = base().build();
        assertThrows(IllegalArgumentException.class,
                () -> QemuCommandLine.build(c, RunPaths.of(c), Accelerator.AUTO, TSC, null));
    }

    @Test
    void profilesByName() {
        assertEquals(MachineProfile.virt(), MachineProfile.byName("virt"));
        assertEquals(MachineProfile.virtHotplug(), MachineProfile.byName("virt-hotplug"));
        VmConfigException e = assertThrows(VmConfigException.class, () -> MachineProfile.byName("pc"));
        assertEquals("profile", e.field());
    }

    @Test
    void netDevicesOnMicrovmRunInsideTheNetns() {
        VmConfig c = base().netns(Path.of("/var/run/netns/cni-1234")).netDevice(new NetDevice("net0", "tap0_kata",
                "D2:04:8E:79:3B:AD")).build();
        List<String> a = build(c, Accelerator.TCG);
        assertEquals(List.of("/usr/bin/nsenter", "--net=/var/run/netns/cni-1234", "--", "/usr/bin/qemu-system-x86_64"),
                a.subList(0, 4));
        assertEquals("tap,id=net0,ifname=tap0_kata,script=no,downscript=no", arg(a, "-netdev"));
        assertEquals(List.of("virtio-net-device,netdev=net0,id=net0-dev,mac=d2:04:8e:79:3b:ad"), all(a, "-device"));
        // The sandbox still applies: nsenter has exec'd before QEMU installs it.
        assertEquals(QemuFeatures.SANDBOX, arg(a, "-sandbox"));
    }

    @Test
    void netDevicesOnQ35ArePciWithoutOptionRom() {
        VmConfig c = base().profile(MachineProfile.virtHotplug()).netDevice(new NetDevice("net0", "tap0_kata",
                "02:00:00:00:00:01")).netDevice(new NetDevice("net1", "tap1_kata", "02:00:00:00:00:02")).build();
        List<String> a = build(c, Accelerator.TCG);
        assertEquals("/usr/bin/qemu-system-x86_64", a.get(0), "no netns: QEMU runs in the shim's own");
        assertEquals(List.of("tap,id=net0,ifname=tap0_kata,script=no,downscript=no",
                "tap,id=net1,ifname=tap1_kata,script=no,downscript=no"), all(a, "-netdev"));
        assertEquals(List.of("virtio-net-pci,netdev=net0,id=net0-dev,mac=02:00:00:00:00:01,disable-legacy=on,romfile=",
                "virtio-net-pci,netdev=net1,id=net1-dev,mac=02:00:00:00:00:02,disable-legacy=on,romfile="),
                all(a, "-device"));
    }

    @Test
    void balloonWithFreePageReportingOnMicrovmIsVirtioMmio() {
        List<String> off = all(build(base().build(), Accelerator.TCG), "-device");
        assertTrue(off.stream().noneMatch(d -> d.contains("balloon")), off.toString());
        VmConfig c = base().freePageReporting(true).build();
        assertTrue(c.freePageReporting());
        List<String> on = all(build(c, Accelerator.TCG), "-device");
        assertTrue(on.contains("virtio-balloon-device,id=balloon0,free-page-reporting=on"), on.toString());
        assertEquals(1, on.stream().filter(d -> d.contains("balloon")).count(), on.toString());
    }

    @Test
    void balloonWithFreePageReportingOnQ35IsModernPci() {
        VmConfig.Builder b = base().profile(MachineProfile.virtHotplug());
        List<String> off = all(build(b.build(), Accelerator.TCG), "-device");
        assertTrue(off.stream().noneMatch(d -> d.contains("balloon")), off.toString());
        List<String> on = all(build(b.freePageReporting(true).build(), Accelerator.TCG), "-device");
        assertTrue(on.contains("virtio-balloon-pci,id=balloon0,free-page-reporting=on,disable-legacy=on"),
                on.toString());
    }

    @Test
    void seccompSandboxOptionsAreTheConfigsOrNone() {
        assertEquals(QemuFeatures.SANDBOX, arg(build(base().build(), Accelerator.TCG), "-sandbox"));
        assertEquals("on,spawn=deny", arg(build(base().seccompSandbox("on,spawn=deny").build(), Accelerator.TCG),
                "-sandbox"));
        assertFalse(build(base().seccompSandbox("").build(), Accelerator.TCG).contains("-sandbox"));
        assertFalse(build(base().seccompSandbox(null).build(), Accelerator.TCG).contains("-sandbox"));
    }
}
