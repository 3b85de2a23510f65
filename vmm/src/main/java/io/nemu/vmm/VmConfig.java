package io.nemu.vmm;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything needed to launch one sandbox VM. The constructor checks the values on their own;
 * {@link #checkHost()} checks what they point to (files, binaries), just before a start.
 *
 * @param profile         machine profile ({@code virt} or {@code virt-hotplug})
 * @param kernel          uncompressed vmlinux (PVH boot)
 * @param initrd          initramfs, or null for none
 * @param rootImage       read-only root file system image (erofs), mounted by the initrd's /init; null for none
 *                        (the initrd is the whole root)
 * @param kernelArgs      extra kernel command line words, appended after the profile's own
 * @param vcpus           vCPUs at boot
 * @param memoryMib       guest RAM at boot
 * @param maxVcpus        hotplug ceiling of vCPUs (virt-hotplug only; 0 = vcpus)
 * @param memorySlots     DIMM slots for memory hotplug (virt-hotplug only)
 * @param maxMemoryMib    hotplug ceiling of RAM (virt-hotplug only; 0 = memoryMib)
 * @param pciRootPorts    empty PCIe root ports kept for device hotplug (virt-hotplug only)
 * @param sharedDir       host directory shared by virtio-fs, or null for none
 * @param sharedTag       virtio-fs tag the guest mounts; required with a sharedDir (the guest side owns its
 *                        value, e.g. agent-proto's GuestContract, so the vmm does not invent one)
 * @param sharedCache     virtiofsd cache mode
 * @param runDir          folder for this VM's sockets and logs (created if missing)
 * @param consoleLog      serial console log file
 * @param accelerator     auto, kvm or tcg
 * @param qemuBinary      qemu-system-x86_64
 * @param virtiofsdBinary virtiofsd
 * @param agentTransport  the agent channel the VM gets
 * @param agentPort       vsock port the guest's agent listens on; required with a vsock transport (0 = none)
 * @param startTimeout    bound on start(): QEMU up and QMP connected
 * @param netDevices      virtio-net NICs on existing taps (none: the VM has no network)
 * @param netns           network namespace QEMU runs in (it opens the taps there), or null for the shim's own
 * @param freePageReporting virtio-balloon with free page reporting: the guest hands pages it freed back to
 *                        the host (QEMU discards them), so QEMU's RSS follows what the guest uses
 * @param seccompSandbox  QEMU's {@code -sandbox} options (default {@link QemuFeatures#SANDBOX}); null or empty
 *                        runs QEMU without its seccomp filter, which must be asked for: a QEMU that lacks
 *                        seccomp otherwise fails the start
 * @param tcgTbSizeMib    bound on TCG's translated-code cache in MiB (QEMU's {@code tb-size}); 0 leaves QEMU's
 *                        own (up to 1 GiB). Never used under KVM, which has no such cache
 * @param rootDevice      how the root image reaches the guest (default virtio-blk; virtio-pmem with DAX only on
 *                        virt-hotplug, and the image's size a multiple of {@link RootDevice#PMEM_ALIGNMENT})
 * @param templating      null, or how this VM is a template or a clone of one (RAM in a file, the shared folder
 *                        through virtio-9p, no vhost-user device; a template's NICs are on throwaway taps)
 * @param virtioMem       the RAM above memoryMib up to maxMemoryMib is one virtio-mem device (grown and shrunk in
 *                        2 MiB blocks) instead of DIMMs in memorySlots (virt-hotplug only)
 */
public record VmConfig(
        MachineProfile profile,
        Path kernel,
        Path initrd,
        Path rootImage,
        List<String> kernelArgs,
        int vcpus,
        int memoryMib,
        int maxVcpus,
        int memorySlots,
        int maxMemoryMib,
        int pciRootPorts,
        Path sharedDir,
        String sharedTag,
        CacheMode sharedCache,
        Path runDir,
        Path consoleLog,
        Accelerator accelerator,
        Path qemuBinary,
        Path virtiofsdBinary,
        AgentTransport agentTransport,
        int agentPort,
        Duration startTimeout,
        List<NetDevice> netDevices,
        Path netns,
        boolean freePageReporting,
        String seccompSandbox,
        int tcgTbSizeMib,
        RootDevice rootDevice,
        io.nemu.vmm.template.Templating templating,
        boolean virtioMem) {

    public static final Path DEFAULT_QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    public static final Path DEFAULT_VIRTIOFSD = Path.of("/usr/lib/qemu/virtiofsd");
    /** sun_path is 108 bytes including the terminating NUL. */
    static final int MAX_SOCKET_PATH = 107;
    /** Longest socket file name the VM puts into runDir. */
    static final String LONGEST_SOCKET = "virtiofsd.sock";
    /** Hybrid vsock socket name; guest-initiated connections use {@code vsock_<port>} beside it. */
    static final String VSOCK_SOCKET = "vsock";
    /** Longest name a guest-initiated vsock connection can ask for. */
    static final String LONGEST_VSOCK_SOCKET = VSOCK_SOCKET + "_4294967295";
    /** Linux virtio-fs tags are at most 36 bytes. */
    static final int MAX_TAG_BYTES = 36;
    /** Runs QEMU inside {@link #netns()} (it execs, so the pid stays QEMU's). */
    public static final Path NSENTER = Path.of("/usr/bin/nsenter");
    /** virtio-mem's block on x86-64 (the THP size): the device grows and shrinks in these units. */
    public static final int VIRTIO_MEM_BLOCK_MIB = 2;
    /** QEMU 7.2 caps its TCG code cache at 1 GiB (its own default ceiling). */
    public static final int MAX_TCG_TB_SIZE_MIB = 1024;

    public VmConfig {
        require(profile != null, "profile", "is missing");
        require(kernel != null, "kernel", "is missing");
        kernelArgs = kernelArgs == null ? List.of() : List.copyOf(kernelArgs);
        for (String a : kernelArgs) {
            require(a != null && !a.isBlank() && a.chars().noneMatch(c -> c == '\n' || c == '\r' || c == 0),
                    "kernelArgs", "contains an empty word or a line break: '" + a + "'");
        }
        require(vcpus >= 1 && vcpus <= 255, "vcpus", "must be 1..255, got " + vcpus);
        require(memoryMib >= 64 && memoryMib <= 1024 * 1024, "memoryMib", "must be 64..1048576, got " + memoryMib);
        if (maxVcpus == 0) {
            maxVcpus = vcpus;
        }
        if (maxMemoryMib == 0) {
            maxMemoryMib = memoryMib;
        }
        require(maxVcpus >= vcpus && maxVcpus <= 255, "maxVcpus",
                "must be vcpus (" + vcpus + ")..255, got " + maxVcpus);
        require(memorySlots >= 0 && memorySlots <= 256, "memorySlots", "must be 0..256, got " + memorySlots);
        require(maxMemoryMib >= memoryMib, "maxMemoryMib",
                "must be at least memoryMib (" + memoryMib + "), got " + maxMemoryMib);
        require(pciRootPorts >= 0 && pciRootPorts <= 32, "pciRootPorts", "must be 0..32, got " + pciRootPorts);
        if (!profile.hotplug()) {
            String no = "the " + profile.name() + " profile cannot hotplug; use virt-hotplug";
            require(maxVcpus == vcpus, "maxVcpus", no);
            require(memorySlots == 0, "memorySlots", no);
            require(maxMemoryMib == memoryMib, "maxMemoryMib", no);
            require(pciRootPorts == 0, "pciRootPorts", no);
        } else {
            require(memorySlots == 0 || maxMemoryMib > memoryMib, "maxMemoryMib",
                    "must exceed memoryMib when memorySlots > 0 (room for hotplugged memory)");
            require(memorySlots > 0 || virtioMem || maxMemoryMib == memoryMib, "memorySlots",
                    "must be > 0 when maxMemoryMib exceeds memoryMib (or use virtio-mem)");
        }
        if (virtioMem) {
            require(profile.hotplug(), "virtioMem", "needs the virt-hotplug profile: " + profile.name() + " has no PCI");
            require(maxMemoryMib > memoryMib, "maxMemoryMib", "must exceed memoryMib with virtio-mem (its region is"
                    + " the difference), got " + maxMemoryMib);
            require((maxMemoryMib - memoryMib) % VIRTIO_MEM_BLOCK_MIB == 0, "maxMemoryMib", "minus memoryMib must be a"
                    + " multiple of virtio-mem's " + VIRTIO_MEM_BLOCK_MIB + " MiB block, got " + (maxMemoryMib - memoryMib));
        }
        require(sharedDir == null || sharedTag != null, "sharedTag",
                "is required with a sharedDir: the virtio-fs tag the guest mounts (" + sharedDir + ")");
        if (sharedTag != null) {
            int tagBytes = sharedTag.getBytes(StandardCharsets.UTF_8).length;
            require(tagBytes > 0 && tagBytes <= MAX_TAG_BYTES && sharedTag.chars().noneMatch(Character::isWhitespace),
                    "sharedTag", "must be 1.." + MAX_TAG_BYTES + " bytes without spaces, got '" + sharedTag + "'");
        }
        if (sharedCache == null) {
            sharedCache = CacheMode.AUTO;
        }
        require(runDir != null, "runDir", "is missing");
        require(runDir.isAbsolute(), "runDir", "must be absolute, got " + runDir);
        int sockLen = runDir.resolve(LONGEST_SOCKET).toString().getBytes(StandardCharsets.UTF_8).length;
        require(sockLen <= MAX_SOCKET_PATH, "runDir", "is too long for unix sockets (" + sockLen
                + " > " + MAX_SOCKET_PATH + " bytes with " + LONGEST_SOCKET + "): " + runDir);
        if (consoleLog == null) {
            consoleLog = runDir.resolve("console.log");
        }
        if (accelerator == null) {
            accelerator = Accelerator.AUTO;
        }
        if (qemuBinary == null) {
            qemuBinary = DEFAULT_QEMU;
        }
        if (virtiofsdBinary == null) {
            virtiofsdBinary = DEFAULT_VIRTIOFSD;
        }
        if (agentTransport == null) {
            agentTransport = AgentTransport.NONE;
        }
        if (agentTransport.vsock()) {
            require(agentPort > 0, "agentPort", "is required with the " + agentTransport
                    + " agent transport: the vsock port the guest's agent listens on, got " + agentPort);
        } else {
            require(agentPort >= 0, "agentPort", "must not be negative, got " + agentPort);
        }
        if (agentTransport == AgentTransport.VSOCK || agentTransport == AgentTransport.HYBRID_VSOCK) {
            int vsLen = runDir.resolve(LONGEST_VSOCK_SOCKET).toString().getBytes(StandardCharsets.UTF_8).length;
            require(vsLen <= MAX_SOCKET_PATH, "runDir", "is too long for the vsock sockets (" + vsLen + " > "
                    + MAX_SOCKET_PATH + " bytes with " + LONGEST_VSOCK_SOCKET + "): " + runDir);
        }
        if (startTimeout == null) {
            startTimeout = Duration.ofSeconds(20);
        }
        require(!startTimeout.isNegative() && !startTimeout.isZero(), "startTimeout", "must be positive");
        netDevices = netDevices == null ? List.of() : List.copyOf(netDevices);
        java.util.Set<String> ids = new java.util.HashSet<>();
        java.util.Set<String> taps = new java.util.HashSet<>();
        for (NetDevice d : netDevices) {
            require(ids.add(d.id()), "netDevices", "id '" + d.id() + "' is used twice");
            require(taps.add(d.tap()), "netDevices", "tap '" + d.tap() + "' is used twice");
        }
        require(netns == null || netns.isAbsolute(), "netns", "must be an absolute path, got " + netns);
        if (seccompSandbox != null && seccompSandbox.isEmpty()) {
            seccompSandbox = null;
        }
        if (seccompSandbox != null) {
            String problem = QemuFeatures.sandboxOptionsProblem(seccompSandbox);
            require(problem == null, "seccompSandbox", problem);
        }
        require(tcgTbSizeMib >= 0 && tcgTbSizeMib <= MAX_TCG_TB_SIZE_MIB, "tcgTbSizeMib",
                "must be 0 (QEMU's default) or 1.." + MAX_TCG_TB_SIZE_MIB + " MiB, got " + tcgTbSizeMib);
        if (rootDevice == null) {
            rootDevice = RootDevice.VIRTIO_BLK;
        }
        require(rootDevice != RootDevice.VIRTIO_PMEM || profile.hotplug(), "rootDevice",
                "virtio-pmem needs the virt-hotplug profile: QEMU's microvm (virt) maps no memory devices");
        if (templating != null) {
            String why = "a template and its clones cannot have vhost-user devices (not migratable, and a clone's"
                    + " private RAM cannot be shared with a backend)";
            require(agentTransport == AgentTransport.SERIAL || agentTransport == AgentTransport.NONE
                    || agentTransport == AgentTransport.VHOST_VSOCK, "agentTransport", "must be serial: " + why);
            require(!virtioMem, "virtioMem", "is not supported with templates (not tried with a private clone RAM)");
        }
    }

    /** This config with templating {@code t}, its own run folder and shared folder (its console log in the run folder). */
    public VmConfig withTemplating(io.nemu.vmm.template.Templating t, Path runDir, Path sharedDir) {
        return toBuilder().templating(t).runDir(runDir).sharedDir(sharedDir).consoleLog(null).build();
    }

    /** This config with other NICs, opened by QEMU in {@code netns} (a template's build: its throwaway taps). */
    public VmConfig withNetwork(List<NetDevice> nics, Path netns) {
        Builder b = toBuilder().netns(netns);
        b.netDevices.clear();
        nics.forEach(b::netDevice);
        return b.build();
    }

    /** This config with TCG's code cache bounded at {@code mib} (0: QEMU's default). */
    public VmConfig withTcgTbSize(int mib) {
        return toBuilder().tcgTbSizeMib(mib).build();
    }

    /** A builder holding every field of this config. */
    public Builder toBuilder() {
        Builder b = new Builder().profile(profile).kernel(kernel).initrd(initrd).rootImage(rootImage)
                .kernelArgs(kernelArgs).vcpus(vcpus).memoryMib(memoryMib).maxVcpus(maxVcpus).memorySlots(memorySlots)
                .maxMemoryMib(maxMemoryMib).pciRootPorts(pciRootPorts).sharedDir(sharedDir).sharedTag(sharedTag)
                .sharedCache(sharedCache).runDir(runDir).consoleLog(consoleLog).accelerator(accelerator)
                .qemuBinary(qemuBinary).virtiofsdBinary(virtiofsdBinary).agentTransport(agentTransport)
                .agentPort(agentPort).startTimeout(startTimeout).netns(netns).freePageReporting(freePageReporting)
                .seccompSandbox(seccompSandbox).tcgTbSizeMib(tcgTbSizeMib).rootDevice(rootDevice)
                .templating(templating).virtioMem(virtioMem);
        netDevices.forEach(b::netDevice);
        return b;
    }

    /** Whether the root image is mapped as guest memory (virtio-pmem), which takes room beside the RAM. */
    public boolean rootImageMapped() {
        return rootImage != null && rootDevice == RootDevice.VIRTIO_PMEM;
    }

    /** Size of the root image, which a mapped root takes in the guest's memory address space. */
    public long rootImageBytes() {
        try {
            return Files.size(rootImage);
        } catch (IOException e) {
            throw new VmConfigException("rootImage", "cannot be read: " + rootImage + " (" + e.getMessage() + ")");
        }
    }

    /** Checks the files and binaries this config names; throws naming the first bad one. */
    public void checkHost() {
        checkReadableFile("kernel", kernel);
        if (initrd != null) {
            checkReadableFile("initrd", initrd);
        }
        if (rootImage != null) {
            checkReadableFile("rootImage", rootImage);
            long size = rootImageBytes();
            require(!rootImageMapped() || size % RootDevice.PMEM_ALIGNMENT == 0, "rootImage",
                    "is " + size + " bytes, not a multiple of " + (RootDevice.PMEM_ALIGNMENT >> 20) + " MiB, which a"
                            + " virtio-pmem root needs (an image from an older nemu image build?): " + rootImage);
        }
        checkExecutable("qemuBinary", qemuBinary);
        if (sharedDir != null) {
            require(Files.isDirectory(sharedDir), "sharedDir", "is not a directory: " + sharedDir);
            if (templating == null) {
                checkExecutable("virtiofsdBinary", virtiofsdBinary);
            }
        }
        if (templating instanceof io.nemu.vmm.template.Templating.Clone c) {
            checkReadableFile("templating.memoryFile", c.memoryFile());
            checkReadableFile("templating.stateFile", c.stateFile());
        }
        if (netns != null) {
            require(Files.exists(netns), "netns", "does not exist: " + netns);
            checkExecutable("netns (nsenter)", NSENTER);
        }
    }

    private static void checkReadableFile(String field, Path p) {
        require(Files.exists(p), field, "file does not exist: " + p);
        require(Files.isRegularFile(p), field, "is not a regular file: " + p);
        // Files.isReadable is always true for root; open it to be sure.
        try (InputStream in = Files.newInputStream(p)) {
            require(in.read() >= 0, field, "file is empty: " + p);
        } catch (IOException e) {
            throw new VmConfigException(field, "cannot be read: " + p + " (" + e.getMessage() + ")");
        }
    }

    private static void checkExecutable(String field, Path p) {
        require(Files.exists(p), field, "not found: " + p);
        require(Files.isRegularFile(p) && Files.isExecutable(p), field, "is not an executable file: " + p);
    }

    private static void require(boolean ok, String field, String problem) {
        if (!ok) {
            throw new VmConfigException(field, problem);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder with the defaults: virt, 1 vCPU, 512 MiB, auto accelerator, no share, no agent channel. */
    public static final class Builder {
        private MachineProfile profile = MachineProfile.virt();
        private Path kernel;
        private Path initrd;
        private Path rootImage;
        private final List<String> kernelArgs = new ArrayList<>();
        private int vcpus = 1;
        private int memoryMib = 512;
        private int maxVcpus;
        private int memorySlots;
        private int maxMemoryMib;
        private int pciRootPorts;
        private Path sharedDir;
        private String sharedTag;
        private CacheMode sharedCache = CacheMode.AUTO;
        private Path runDir;
        private Path consoleLog;
        private Accelerator accelerator = Accelerator.AUTO;
        private Path qemuBinary = DEFAULT_QEMU;
        private Path virtiofsdBinary = DEFAULT_VIRTIOFSD;
        private AgentTransport agentTransport = AgentTransport.NONE;
        private int agentPort;
        private Duration startTimeout = Duration.ofSeconds(20);
        private final List<NetDevice> netDevices = new ArrayList<>();
        private Path netns;
        private boolean freePageReporting;
        private String seccompSandbox = QemuFeatures.SANDBOX;
        private int tcgTbSizeMib;
        private RootDevice rootDevice = RootDevice.VIRTIO_BLK;
        private io.nemu.vmm.template.Templating templating;
        private boolean virtioMem;

        public Builder profile(MachineProfile v) { profile = v; return this; }
        public Builder kernel(Path v) { kernel = v; return this; }
        public Builder initrd(Path v) { initrd = v; return this; }
        public Builder rootImage(Path v) { rootImage = v; return this; }
        public Builder kernelArg(String v) { kernelArgs.add(v); return this; }
        public Builder kernelArgs(List<String> v) { kernelArgs.addAll(v); return this; }
        public Builder vcpus(int v) { vcpus = v; return this; }
        public Builder memoryMib(int v) { memoryMib = v; return this; }
        public Builder maxVcpus(int v) { maxVcpus = v; return this; }
        public Builder memorySlots(int v) { memorySlots = v; return this; }
        public Builder maxMemoryMib(int v) { maxMemoryMib = v; return this; }
        public Builder pciRootPorts(int v) { pciRootPorts = v; return this; }
        public Builder sharedDir(Path v) { sharedDir = v; return this; }
        public Builder sharedTag(String v) { sharedTag = v; return this; }
        public Builder sharedCache(CacheMode v) { sharedCache = v; return this; }
        public Builder runDir(Path v) { runDir = v; return this; }
        public Builder consoleLog(Path v) { consoleLog = v; return this; }
        public Builder accelerator(Accelerator v) { accelerator = v; return this; }
        public Builder qemuBinary(Path v) { qemuBinary = v; return this; }
        public Builder virtiofsdBinary(Path v) { virtiofsdBinary = v; return this; }
        public Builder agentTransport(AgentTransport v) { agentTransport = v; return this; }
        public Builder agentPort(int v) { agentPort = v; return this; }
        public Builder startTimeout(Duration v) { startTimeout = v; return this; }
        public Builder netDevice(NetDevice v) { netDevices.add(v); return this; }
        public Builder netns(Path v) { netns = v; return this; }
        public Builder freePageReporting(boolean v) { freePageReporting = v; return this; }
        /** QEMU's -sandbox options; null or empty: no seccomp sandbox, on purpose. */
        public Builder seccompSandbox(String v) { seccompSandbox = v; return this; }
        /** TCG's code cache bound in MiB; 0: QEMU's default. */
        public Builder tcgTbSizeMib(int v) { tcgTbSizeMib = v; return this; }
        public Builder rootDevice(RootDevice v) { rootDevice = v; return this; }
        /** A template to build, or the template to clone (null: a VM of its own, the default). */
        public Builder templating(io.nemu.vmm.template.Templating v) { templating = v; return this; }
        /** Hot-added RAM through one virtio-mem device instead of DIMMs. */
        public Builder virtioMem(boolean v) { virtioMem = v; return this; }

        public VmConfig build() {
            return new VmConfig(profile, kernel, initrd, rootImage, kernelArgs, vcpus, memoryMib, maxVcpus, memorySlots,
                    maxMemoryMib, pciRootPorts, sharedDir, sharedTag, sharedCache, runDir, consoleLog,
                    accelerator, qemuBinary, virtiofsdBinary, agentTransport, agentPort, startTimeout, netDevices,
                    netns, freePageReporting, seccompSandbox, tcgTbSizeMib, rootDevice, templating, virtioMem);
        }
    }

    @Override
    public String toString() {
        return "VmConfig[" + profile.name() + ", kernel=" + kernel + ", initrd=" + initrd
                + (rootImage == null ? "" : ", rootImage=" + rootImage + " on " + rootDevice) + ", vcpus=" + vcpus
                + "/" + maxVcpus + ", memoryMib=" + memoryMib + "/" + maxMemoryMib + ", share="
                + (sharedDir == null ? "none" : sharedDir + " as " + sharedTag) + ", runDir=" + runDir
                + (virtioMem ? " (virtio-mem)" : "") + ", accelerator=" + accelerator + (tcgTbSizeMib > 0 ? ", tcg tb-size=" + tcgTbSizeMib + "M" : "")
                + (freePageReporting ? ", free-page-reporting" : "")
                + (seccompSandbox == null ? ", no seccomp sandbox" : "")
                + (templating == null ? "" : ", " + templating)
                + (netDevices.isEmpty() ? "" : ", nics=" + netDevices.stream().map(d -> d.tap() + "/" + d.mac()).toList()
                        + (netns == null ? "" : " in " + netns)) + "]";
    }
}
