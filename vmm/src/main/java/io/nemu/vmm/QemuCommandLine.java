package io.nemu.vmm;

import io.nemu.vmm.channel.AgentChannel;
import io.nemu.vmm.template.Templating;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/** Builds the QEMU command line of a VM from its config and what the host probes said. */
public final class QemuCommandLine {
    /** Kernel words every VM gets: serial console, and a panic ends QEMU (with -no-reboot). */
    public static final List<String> BASE_KERNEL_ARGS = List.of("console=ttyS0", "panic=1", "quiet");

    static final String FS_CHARDEV = "fs0";
    /** QOM id of the virtio-fs device: /machine/peripheral/virtiofs0. */
    public static final String FS_DEVICE = "virtiofs0";

    /** QOM id of the root image's disk, or of its memory backend and pmem device ({@code root-pmem}). */
    static final String ROOT_DRIVE = "root";

    /** QOM id of the virtio-mem device: /machine/peripheral/vmem0; its memory backend is {@code vmem0-ram}. */
    public static final String VIRTIO_MEM_DEVICE = "vmem0";

    /** QOM id of the balloon device: /machine/peripheral/balloon0. */
    public static final String BALLOON_DEVICE = "balloon0";

    private QemuCommandLine() {
    }

    /**
     * @param accel     resolved accelerator (KVM or TCG)
     * @param tscKhz    host TSC rate, for guests that cannot calibrate under TCG
     * @param channel   agent channel, or null
     */
    public static List<String> build(VmConfig c, RunPaths paths, Accelerator accel, OptionalLong tscKhz,
            AgentChannel channel) {
        if (accel == Accelerator.AUTO) {
            throw new IllegalArgumentException("accelerator must be resolved before building the command line");
        }
        MachineProfile p = c.profile();
        List<String> a = new ArrayList<>();
        if (c.netns() != null) {
            // QEMU opens its taps by name in its own netns; nsenter execs, so the pid stays QEMU's.
            a.addAll(List.of(VmConfig.NSENTER.toString(), "--net=" + c.netns(), "--"));
        }
        a.add(c.qemuBinary().toString());
        // debug-threads names the vCPU threads ("CPU 0/TCG"): process.VcpuWait finds them by name.
        a.addAll(List.of("-name", "nemu-" + p.name() + ",debug-threads=on", "-no-user-config", "-nodefaults", "-display", "none",
                "-no-reboot"));
        if (accel == Accelerator.KVM) {
            a.addAll(List.of("-accel", "kvm", "-cpu", "host"));
        } else {
            a.addAll(List.of("-accel", tcgAccel(c)));
        }
        a.addAll(p.machineArgs(c));
        a.addAll(List.of("-object", memoryBackend(c)));
        a.addAll(List.of("-kernel", c.kernel().toString()));
        if (c.initrd() != null) {
            a.addAll(List.of("-initrd", c.initrd().toString()));
        }
        a.addAll(List.of("-append", String.join(" ", kernelArgs(c, accel, tscKhz))));
        if (c.rootImage() != null) {
            a.addAll(rootImageArgs(p, c));
        }
        a.addAll(List.of("-chardev", "file,id=console,path=" + paths.consoleLog(), "-serial", "chardev:console"));
        a.addAll(List.of("-chardev", "socket,id=qmp,path=" + paths.qmpSocket() + ",server=on,wait=off",
                "-mon", "chardev=qmp,mode=control"));
        if (c.sharedDir() != null && c.templating() != null) {
            a.addAll(ninePArgs(p, c));
        } else if (c.sharedDir() != null) {
            a.addAll(List.of("-chardev", "socket,id=" + FS_CHARDEV + ",path=" + paths.virtiofsdSocket(),
                    "-device", p.vhostUserFsDevice() + ",id=" + FS_DEVICE + ",chardev=" + FS_CHARDEV + ",tag=" + c.sharedTag()
                            + ",queue-size=1024"));
        }
        for (NetDevice n : c.netDevices()) {
            a.addAll(netArgs(p, n));
        }
        if (c.virtioMem()) {
            a.addAll(virtioMemArgs(c));
        }
        if (c.freePageReporting()) {
            a.addAll(balloonArgs(p));
        }
        if (channel != null) {
            a.addAll(channel.qemuArgs(p));
        }
        if (c.seccompSandbox() != null) {
            a.addAll(List.of("-sandbox", c.seccompSandbox()));
        }
        if (c.templating() instanceof Templating.Clone) {
            a.addAll(List.of("-incoming", "defer"));
        }
        return a;
    }

    /**
     * Guest RAM. Default: a shared memfd, which vhost-user back ends (virtiofsd, vsock) map. Templating: the
     * template's file on a tmpfs, written through by the template, mapped private (copy-on-write) by each clone.
     */
    static String memoryBackend(VmConfig c) {
        String common = "id=" + MachineProfile.MEMORY_BACKEND_ID + ",size=" + c.memoryMib() + "M";
        Templating t = c.templating();
        if (t == null) {
            return "memory-backend-memfd," + common + ",share=on";
        }
        String file = noComma("template memory file", t.memoryFile().toString());
        return "memory-backend-file," + common + ",mem-path=" + file + ",share=" + (t.sharedMemory() ? "on" : "off");
    }

    /**
     * The shared folder through virtio-9p (QEMU serves it itself). The template has the device with its own
     * empty folder and never mounts it (a mounted 9p share blocks migration); each clone's command line points
     * the same device at the clone's folder, since the path is not part of the migrated state.
     */
    static List<String> ninePArgs(MachineProfile p, VmConfig c) {
        String dir = noComma("shared folder", c.sharedDir().toString());
        return List.of("-fsdev", "local,id=" + FS_CHARDEV + ",path=" + dir + ",security_model=none",
                "-device", p.virtio9pDevice() + ",id=" + FS_DEVICE + ",fsdev=" + FS_CHARDEV + ",mount_tag="
                        + c.sharedTag() + p.virtioDeviceOptions());
    }

    private static String noComma(String what, String value) {
        if (value.contains(",")) {
            throw new IllegalArgumentException(what + " " + value + " has a comma, which QEMU's options cannot take");
        }
        return value;
    }

    /** {@code -netdev tap} on the existing tap (no scripts) and its virtio-net front end with the given MAC. */
    static List<String> netArgs(MachineProfile p, NetDevice n) {
        String dev = p.virtioNetDevice() + ",netdev=" + n.id() + ",id=" + n.id() + "-dev,mac=" + n.mac();
        if (p.hotplug()) {
            // No option ROM: the guest boots by PVH, never from the network.
            dev += p.virtioDeviceOptions() + ",romfile=";
        }
        return List.of("-netdev", "tap,id=" + n.id() + ",ifname=" + n.tap() + ",script=no,downscript=no",
                "-device", dev);
    }

    /**
     * The hot-pluggable RAM as one virtio-mem device that starts empty ({@code requested-size=0}): a shared memfd
     * as big as the room above the boot RAM, so vhost-user back ends can map it, which costs the host nothing
     * until the guest plugs blocks; unplugged blocks are discarded (a hole punched in the memfd).
     */
    static List<String> virtioMemArgs(VmConfig c) {
        return virtioMemArgs(c.maxMemoryMib() - c.memoryMib(), c.profile().virtioDeviceOptions());
    }

    /** The virtio-mem device of a q35 VM with {@code regionMib} of room; also for tools that start QEMU themselves. */
    public static List<String> virtioMemArgs(long regionMib) {
        return virtioMemArgs(regionMib, MachineProfile.virtHotplug().virtioDeviceOptions());
    }

    private static List<String> virtioMemArgs(long regionMib, String deviceOptions) {
        String backend = VIRTIO_MEM_DEVICE + "-ram";
        return List.of("-object", "memory-backend-memfd,id=" + backend + ",size=" + regionMib + "M,share=on",
                "-device", "virtio-mem-pci,id=" + VIRTIO_MEM_DEVICE + ",memdev=" + backend + ",requested-size=0"
                        + deviceOptions);
    }

    /**
     * A balloon that is never inflated, only there for free page reporting: the guest reports free 2 MiB
     * blocks and QEMU discards them (a hole punched in the memfd), so the host gets that RAM back.
     */
    static List<String> balloonArgs(MachineProfile p) {
        return List.of("-device", p.virtioBalloonDevice() + ",id=" + BALLOON_DEVICE + ",free-page-reporting=on"
                + p.virtioDeviceOptions());
    }

    /**
     * The root image, read-only. On virtio-blk QEMU opens it O_RDONLY through the host page cache (no O_DIRECT),
     * so every VM reads the same cached pages and the guest's page cache holds what it read. On virtio-pmem QEMU
     * maps the file read-only and private: the guest's DAX mappings are the host's page-cache pages themselves.
     */
    static List<String> rootImageArgs(MachineProfile p, VmConfig c) {
        String file = c.rootImage().toString();
        if (file.contains(",")) {
            throw new IllegalArgumentException("root image path " + file + " has a comma, which QEMU cannot take");
        }
        if (c.rootImageMapped()) {
            return List.of("-object", "memory-backend-file,id=" + ROOT_DRIVE + ",mem-path=" + file + ",size="
                            + c.rootImageBytes() + ",share=off,readonly=on",
                    "-device", "virtio-pmem-pci,id=" + ROOT_DRIVE + "-pmem,memdev=" + ROOT_DRIVE + p.virtioDeviceOptions());
        }
        return List.of("-drive", "file=" + file + ",if=none,id=" + ROOT_DRIVE + ",format=raw,readonly=on",
                "-device", p.virtioBlkDevice() + ",drive=" + ROOT_DRIVE + p.virtioDeviceOptions());
    }

    /**
     * {@code tcg}, with the code cache bound when the config sets one and the VM cannot gain vCPUs: QEMU 7.2 splits
     * the cache between vCPU threads, and a vCPU hot-added once the running ones hold every share aborts QEMU
     * ({@code tcg_region_initial_alloc__locked: assertion failed}).
     */
    static String tcgAccel(VmConfig c) {
        boolean canGainVcpus = c.profile().hotplug() && c.maxVcpus() > c.vcpus();
        return c.tcgTbSizeMib() > 0 && !canGainVcpus ? "tcg,tb-size=" + c.tcgTbSizeMib() : "tcg";
    }

    /** {@code nemu.accel=kvm} or {@code nemu.accel=tcg}: tells the guest what runs its code. */
    public static String accelArg(Accelerator resolved) {
        return "nemu.accel=" + resolved.name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The kernel command line: base words, the accelerator, the profile's, then the config's extras (last
     * wins). The guest's /init reads {@code nemu.accel}: under TCG with one vCPU it runs the agent without
     * a JIT.
     */
    public static List<String> kernelArgs(VmConfig c, Accelerator accel, OptionalLong tscKhz) {
        List<String> k = new ArrayList<>(BASE_KERNEL_ARGS);
        k.add(accelArg(accel));
        k.addAll(c.profile().kernelArgs(accel, tscKhz));
        if (c.rootImage() != null) {
            k.addAll(c.rootDevice().kernelArgs());
        }
        k.addAll(c.kernelArgs());
        return k;
    }
}
