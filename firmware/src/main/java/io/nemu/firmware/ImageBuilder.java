package io.nemu.firmware;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Builds the guest image from Debian packages: the newest {@code linux-image-6.1.0-N-amd64} the apt index
 * offers and {@code busybox-static}, downloaded into a cache with {@code apt-get download} and unpacked with
 * {@code dpkg-deb -x}. Writes {@code vmlinux}, {@code vmlinuz}, {@code initramfs.img} and
 * {@code manifest.json} into the output directory. Same inputs give the same bytes; when the manifest shows
 * that nothing changed the build does nothing.
 */
public final class ImageBuilder {

    /** Modules the guest needs; those the kernel has built in are skipped (and recorded). */
    public static final List<String> DEFAULT_MODULES = List.of(
            "virtio", "virtio_ring", "virtio_mmio", "virtio_pci", "virtio_console",
            "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
            "fuse", "virtiofs", "virtio_blk", "virtio_net", "virtio_mem",
            // the read-only root image (root.img) on virtio-blk, or on virtio-pmem mapped with DAX (q35)
            "erofs", "virtio_pmem", "nd_pmem",
            // free page reporting: the host takes back RAM the guest freed
            "virtio_balloon",
            // hot-added disks (the blk storage driver) carry ext4
            "ext4",
            // ACPI power button -> input event -> acpid
            "button", "evdev");

    /** Kernel packages considered when none is named: Debian 12's 6.1 series, generic flavour. */
    public static final Pattern KERNEL_PACKAGE = Pattern.compile("linux-image-6\\.1\\.0-([0-9]+)-amd64");
    public static final String BUSYBOX_PACKAGE = "busybox-static";

    private static final String RECIPE_VERSION = "nemu-guest-image/3";

    /** What a build gave: the manifest, and whether an existing image was already up to date. */
    public record Result(Path dir, Manifest manifest, boolean upToDate) {
    }

    private final Path output;
    private final Path cacheDir;
    private final Path agentJar;
    private final Path agentRuntime;
    private final String kernelPackage;
    private final List<String> modules;
    private final InitramfsCompression compression;
    private final BuildProgress progress;

    private ImageBuilder(Builder b) {
        this.output = Objects.requireNonNull(b.output, "output").toAbsolutePath().normalize();
        this.cacheDir = (b.cacheDir != null ? b.cacheDir : defaultCacheDir()).toAbsolutePath().normalize();
        this.agentJar = b.agentJar;
        this.agentRuntime = b.agentRuntime;
        this.kernelPackage = b.kernelPackage;
        this.modules = List.copyOf(b.modules);
        this.compression = b.compression;
        this.progress = new BuildProgress(b.listener);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** {@code $NEMU_CACHE_DIR/debs}, else {@code ~/.cache/nemu/debs}: outside the build tree, so {@code mvn clean} keeps it. */
    public static Path defaultCacheDir() {
        String env = System.getenv("NEMU_CACHE_DIR");
        if (env != null && !env.isBlank()) {
            return Path.of(env, "debs");
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("nemu").resolve("debs");
    }

    public static final class Builder {
        private Path output;
        private Path cacheDir;
        private Path agentJar;
        private Path agentRuntime;
        private String kernelPackage;
        private List<String> modules = DEFAULT_MODULES;
        private InitramfsCompression compression = InitramfsCompression.DEFAULT;
        private BuildListener listener = BuildListener.NONE;

        public Builder output(Path dir) {
            this.output = dir;
            return this;
        }

        public Builder cacheDir(Path dir) {
            this.cacheDir = dir;
            return this;
        }

        /**
         * The guest agent jar, installed as /opt/nemu/agent/agent.jar together with crun, the shared libraries
         * and a jlink runtime (made with the running JDK's jlink unless {@link #agentRuntime} names one).
         */
        public Builder agentJar(Path jar) {
            this.agentJar = jar;
            return this;
        }

        /** A jlink runtime directory for the agent, installed as /opt/nemu/agent/runtime. */
        public Builder agentRuntime(Path dir) {
            this.agentRuntime = dir;
            return this;
        }

        /** A kernel package to use instead of the newest {@link #KERNEL_PACKAGE}. */
        public Builder kernelPackage(String name) {
            this.kernelPackage = name;
            return this;
        }

        public Builder modules(List<String> names) {
            this.modules = List.copyOf(names);
            return this;
        }

        public Builder compression(InitramfsCompression c) {
            this.compression = Objects.requireNonNull(c);
            return this;
        }

        public Builder listener(BuildListener l) {
            this.listener = Objects.requireNonNull(l);
            return this;
        }

        public ImageBuilder build() {
            return new ImageBuilder(this);
        }
    }

    /** Work done while holding an exclusive lock on a file. */
    interface LockedWork<T> {
        T run() throws IOException;
    }

    /** Runs {@code work} under an exclusive lock on {@code lockFile}: builds that share a folder take turns. */
    static <T> T underLock(Path lockFile, LockedWork<T> work) throws IOException {
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = ch.lock()) {
            return work.run();
        }
    }

    public Result run() throws IOException {
        AgentPayload.checkInputs(agentJar, agentRuntime);
        boolean agent = agentJar != null;
        progress.begin(agent ? 14 : 9);
        Apt apt = new Apt(cacheDir);

        progress.step("resolving packages from the apt index");
        String kernelName = kernelPackage != null ? kernelPackage : apt.newest(KERNEL_PACKAGE);
        if (!kernelName.startsWith("linux-image-")) {
            throw new FirmwareException("kernel package " + kernelName + " is not a linux-image-RELEASE package");
        }
        String kernelRelease = kernelName.substring("linux-image-".length());
        List<String> names = new ArrayList<>(List.of(kernelName, BUSYBOX_PACKAGE));
        if (agent) {
            names.add(AgentPayload.CRUN_PACKAGE);
            names.addAll(AgentPayload.LIBRARY_PACKAGES);
        }
        List<Apt.PackageInfo> pkgs = apt.show(names);
        Apt.PackageInfo kernel = pkgs.get(0);
        Apt.PackageInfo busybox = pkgs.get(1);

        Files.createDirectories(cacheDir);
        List<Path> debs = new ArrayList<>();
        // Builds that share the cache must not fetch the same .deb or make the same runtime at once.
        Path runtime = underLock(cacheDir.resolve(".lock"), () -> {
            progress.step("fetching " + kernel.name() + " " + kernel.version() + " into " + cacheDir);
            debs.add(apt.download(kernel));
            progress.step("fetching " + busybox.name() + " " + busybox.version() + (agent ? ", crun "
                    + pkgs.get(2).version() + " and " + AgentPayload.LIBRARY_PACKAGES.size() + " library packages"
                    : ""));
            debs.addAll(apt.download(pkgs.subList(1, pkgs.size())));
            if (agent && agentRuntime == null) {
                progress.step("making the agent's Java runtime with jlink (" + String.join(", ", JlinkRuntime.MODULES)
                        + "), once per JDK");
                return JlinkRuntime.ensure(cacheDir);
            } else if (agent) {
                progress.step("using the agent runtime " + agentRuntime);
            }
            return agentRuntime;
        });

        List<Manifest.Input> inputs = new ArrayList<>();
        for (Apt.PackageInfo p : pkgs) {
            inputs.add(new Manifest.Input("deb", p.name(), p.version(), p.sha256()));
        }
        AgentPayload payload = agent ? AgentPayload.prepare(cacheDir, agentJar, runtime, inputs, progress) : null;
        String recipe = recipe();

        progress.step("comparing with the image in " + output);
        Files.createDirectories(output);
        // One build per output directory at a time (tests and the CLI may share the default one).
        return underLock(output.resolve(".build.lock"), () -> {
            try {
                return buildLocked(inputs, recipe, kernelRelease, debs, payload);
            } finally {
                for (String name : List.of(GuestImage.VMLINUX, GuestImage.VMLINUZ, GuestImage.INITRD,
                        GuestImage.ROOT_IMAGE, GuestImage.ROOT_INITRD, Manifest.FILE_NAME)) {
                    Files.deleteIfExists(output.resolve(name + ".tmp"));
                }
            }
        });
    }

    private Result buildLocked(List<Manifest.Input> inputs, String recipe, String kernelRelease, List<Path> debs,
                               AgentPayload agent) throws IOException {
        Optional<Manifest> current = upToDate(inputs, recipe, kernelRelease);
        if (current.isPresent()) {
            progress.finish("up to date (kernel " + kernelRelease + "), nothing to do");
            return new Result(output, current.get(), true);
        }

        // vmlinux ~65 MB, the unpacked kernel package ~420 MB, initramfs and vmlinuz ~10-30 MB; with the agent
        // also root.img (~490 MB: the whole module tree), staged in the cache folder first.
        DiskSpace.require(output, agent != null ? 800L << 20 : 200L << 20, "the guest image");
        DiskSpace.require(cacheDir, agent != null ? 1200L << 20 : 600L << 20, "unpacking the kernel package");
        Path work = Files.createTempDirectory(cacheDir, "unpack-");
        try {
            return build(work, debs, agent, kernelRelease, inputs, recipe);
        } catch (IOException e) {
            throw DiskSpace.explain(e, output);
        } finally {
            deleteTree(work);
        }
    }

    private Result build(Path work, List<Path> debs, AgentPayload agent, String kernelRelease,
                         List<Manifest.Input> inputs, String recipe) throws IOException {
        Path kernelDeb = debs.get(0);
        Path busyboxDeb = debs.get(1);
        progress.step("unpacking " + kernelDeb.getFileName() + " and " + busyboxDeb.getFileName()
                + (debs.size() > 2 ? " (+" + (debs.size() - 2) + " more)" : ""));
        Path kroot = work.resolve("kernel");
        Path broot = work.resolve("busybox");
        Path xroot = work.resolve("extra");
        Apt.unpack(kernelDeb, kroot);
        Apt.unpack(busyboxDeb, broot);
        for (Path deb : debs.subList(2, debs.size())) {
            Apt.unpack(deb, xroot);
        }
        Path vmlinuz = kroot.resolve("boot/vmlinuz-" + kernelRelease);
        Path moduleDir = kroot.resolve("lib/modules/" + kernelRelease);
        if (!Files.isRegularFile(vmlinuz) || !Files.isDirectory(moduleDir)) {
            throw new FirmwareException(kernelDeb.getFileName() + " holds no boot/vmlinuz-" + kernelRelease
                    + " or lib/modules/" + kernelRelease + "; is " + kernelRelease + " the right release?");
        }
        Path busyboxBin = broot.resolve("bin/busybox");
        if (!Files.isRegularFile(busyboxBin)) {
            throw new FirmwareException(busyboxDeb.getFileName() + " holds no bin/busybox");
        }

        progress.step("resolving " + modules.size() + " kernel modules from modules.dep");
        ModulesDep dep = KernelModules.modulesDep(moduleDir);
        ModulesDep.Resolution mods = dep.resolve(modules, KernelModules.builtin(moduleDir));

        Set<String> libs = Set.of();
        if (agent != null) {
            progress.step("resolving the shared libraries of crun and java (ldd)");
            libs = agent.libraries(xroot);
        }

        // Drop the old manifest first: a build that fails half-way must not leave an image that looks valid.
        Files.deleteIfExists(output.resolve(Manifest.FILE_NAME));

        progress.step("extracting vmlinux from the bzImage");
        Path vmlinuxTmp = output.resolve(GuestImage.VMLINUX + ".tmp");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(vmlinuxTmp), 1 << 16)) {
            BzImage.extractVmlinux(vmlinuz, out);
        }
        Files.move(vmlinuxTmp, output.resolve(GuestImage.VMLINUX), StandardCopyOption.REPLACE_EXISTING);
        Path vmlinuzTmp = output.resolve(GuestImage.VMLINUZ + ".tmp");
        Files.copy(vmlinuz, vmlinuzTmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(vmlinuzTmp, output.resolve(GuestImage.VMLINUZ), StandardCopyOption.REPLACE_EXISTING);

        Initramfs tree = RootfsLayout.build(busyboxBin, moduleDir, kernelRelease, dep, mods);
        if (agent != null) {
            agent.addTo(tree, xroot, libs);
        }
        progress.step("writing the initramfs (" + mods.loadOrder().size() + " modules, "
                + (tree.contentSize() >> 20) + " MiB, " + compression.id() + ")");
        writeInitramfs(tree, work, GuestImage.INITRD);

        List<String> names = new ArrayList<>(List.of(GuestImage.INITRD, GuestImage.VMLINUX, GuestImage.VMLINUZ));
        if (agent != null) {
            // The shared root: a small initramfs that only mounts root.img, and root.img itself.
            progress.step("writing " + GuestImage.ROOT_INITRD + " (mounts " + GuestImage.ROOT_IMAGE + ")");
            writeInitramfs(RootfsLayout.build(busyboxBin, moduleDir, kernelRelease, dep, mods), work,
                    GuestImage.ROOT_INITRD);
            progress.step("writing " + GuestImage.ROOT_IMAGE + " (erofs: the agent and the kernel's whole module tree)");
            RootfsLayout.readOnlyRoot(tree);
            Path rootTmp = output.resolve(GuestImage.ROOT_IMAGE + ".tmp");
            RootImage.write(tree, moduleDir, kernelRelease, work, rootTmp);
            Files.move(rootTmp, output.resolve(GuestImage.ROOT_IMAGE), StandardCopyOption.REPLACE_EXISTING);
            names.addAll(List.of(GuestImage.ROOT_INITRD, GuestImage.ROOT_IMAGE));
        }

        progress.step("writing " + Manifest.FILE_NAME);
        List<Manifest.Output> outputs = new ArrayList<>();
        for (String name : names) {
            Path f = output.resolve(name);
            outputs.add(new Manifest.Output(name, Files.size(f), Sha256.of(f)));
        }
        Manifest m = new Manifest(Manifest.FORMAT_VERSION, kernelRelease, recipe, compression.id(), inputs,
                mods.loadOrder(), mods.builtin(), outputs);
        m.write(output);
        return new Result(output, m, false);
    }

    /** {@code tree} as a compressed cpio named {@code name} in the output folder (written aside, then moved in). */
    private void writeInitramfs(Initramfs tree, Path work, String name) throws IOException {
        Path cpio = work.resolve(name + ".cpio");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(cpio), 1 << 16)) {
            tree.writeCpio(out);
        }
        Path tmp = output.resolve(name + ".tmp");
        compression.compress(cpio, tmp);
        Files.move(tmp, output.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    private Optional<Manifest> upToDate(List<Manifest.Input> inputs, String recipe, String kernelRelease) {
        if (!Files.isRegularFile(output.resolve(Manifest.FILE_NAME))) {
            return Optional.empty();
        }
        try {
            GuestImage img = GuestImage.loadVerified(output);
            Manifest m = img.manifest();
            if (m.inputs().equals(inputs) && recipe.equals(m.recipe()) && kernelRelease.equals(m.kernelRelease())) {
                return Optional.of(m);
            }
        } catch (FirmwareException e) {
            // Damaged or foreign image: build it again.
        }
        return Optional.empty();
    }

    /** Hash of everything this builder contributes besides the packages: settings, /init and friends, its code. */
    private String recipe() throws IOException {
        MessageDigest md = Sha256.newDigest();
        md.update((RECIPE_VERSION + "\n" + compression.id() + "\n" + String.join(",", modules) + "\n")
                .getBytes(StandardCharsets.UTF_8));
        RootfsLayout.digest(md);
        // The code that shapes the outputs: a change to it must rebuild, even with the same packages.
        for (Class<?> c : List.of(ImageBuilder.class, RootfsLayout.class, GuestContractFile.class, AgentPayload.class,
                ModulesDep.class, KernelModules.class, Initramfs.class, InitramfsCompression.class, BzImage.class,
                RootImage.class,
                SharedLibraries.class, JlinkRuntime.class)) {
            try (InputStream in = c.getResourceAsStream(c.getSimpleName() + ".class")) {
                if (in != null) {
                    md.update(in.readAllBytes());
                }
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | UncheckedIOException e) {
            // Best effort: a leftover temp dir in the cache is harmless.
        }
    }
}
