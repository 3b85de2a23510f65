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
            // free page reporting: the host takes back RAM the guest freed
            "virtio_balloon",
            // ACPI power button -> input event -> acpid
            "button", "evdev");

    /** Kernel packages considered when none is named: Debian 12's 6.1 series, generic flavour. */
    public static final Pattern KERNEL_PACKAGE = Pattern.compile("linux-image-6\\.1\\.0-([0-9]+)-amd64");
    public static final String BUSYBOX_PACKAGE = "busybox-static";
    public static final String CRUN_PACKAGE = "crun";
    /**
     * Where the shared libraries of crun and of the agent's java come from (Debian 12 names); ldd checks at
     * build time that nothing else is needed.
     */
    public static final List<String> LIBRARY_PACKAGES = List.of(
            "libc6", "libgcc-s1", "libstdc++6", "zlib1g",                    // java
            "libcap2", "libseccomp2", "libyajl2", "libsystemd0",             // crun
            "libgcrypt20", "libgpg-error0", "liblz4-1", "liblzma5", "libzstd1"); // libsystemd0

    /** Files /init and friends, copied from resources into the initramfs: path, mode. */
    private static final List<String[]> ROOTFS_FILES = List.of(
            new String[] {"init", "755"},
            new String[] {"etc/acpi/PWRF/00000080", "755"},
            new String[] {"etc/passwd", "644"},
            new String[] {"etc/group", "644"});

    private static final String RECIPE_VERSION = "nemu-guest-image/1";

    /** What a build gave: the manifest, and whether an existing image was already up to date. */
    public record Result(Path dir, Manifest manifest, boolean upToDate) {
    }

    private final Path output;
    private final Path cacheDir;
    private final Path agentJar;
    private final Path agentRuntime;
    /** The agent's AppCDS archive of the current run (in the cache). */
    private Path agentCds;
    private final String kernelPackage;
    private final List<String> modules;
    private final InitramfsCompression compression;
    private final BuildListener listener;

    private ImageBuilder(Builder b) {
        this.output = Objects.requireNonNull(b.output, "output").toAbsolutePath().normalize();
        this.cacheDir = (b.cacheDir != null ? b.cacheDir : defaultCacheDir()).toAbsolutePath().normalize();
        this.agentJar = b.agentJar;
        this.agentRuntime = b.agentRuntime;
        this.kernelPackage = b.kernelPackage;
        this.modules = List.copyOf(b.modules);
        this.compression = b.compression;
        this.listener = b.listener;
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

    private int step;
    private int total;

    private void progress(String what) {
        listener.step(++step, total, what);
    }

    public Result run() throws IOException {
        checkAgentInputs();
        boolean agent = agentJar != null;
        step = 0;
        total = agent ? 12 : 9;
        Apt apt = new Apt(cacheDir);

        progress("resolving packages from the apt index");
        String kernelName = kernelPackage != null ? kernelPackage : apt.newest(KERNEL_PACKAGE);
        if (!kernelName.startsWith("linux-image-")) {
            throw new FirmwareException("kernel package " + kernelName + " is not a linux-image-RELEASE package");
        }
        String kernelRelease = kernelName.substring("linux-image-".length());
        List<String> names = new ArrayList<>(List.of(kernelName, BUSYBOX_PACKAGE));
        if (agent) {
            names.add(CRUN_PACKAGE);
            names.addAll(LIBRARY_PACKAGES);
        }
        List<Apt.PackageInfo> pkgs = apt.show(names);
        Apt.PackageInfo kernel = pkgs.get(0);
        Apt.PackageInfo busybox = pkgs.get(1);

        Files.createDirectories(cacheDir);
        List<Path> debs = new ArrayList<>();
        Path runtime = agentRuntime;
        // Builds that share the cache must not fetch the same .deb or make the same runtime at once.
        try (FileChannel lockFile = FileChannel.open(cacheDir.resolve(".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = lockFile.lock()) {
            progress("fetching " + kernel.name() + " " + kernel.version() + " into " + cacheDir);
            debs.add(apt.download(kernel));
            progress("fetching " + busybox.name() + " " + busybox.version() + (agent ? ", crun "
                    + pkgs.get(2).version() + " and " + LIBRARY_PACKAGES.size() + " library packages" : ""));
            debs.addAll(apt.download(pkgs.subList(1, pkgs.size())));
            if (agent && runtime == null) {
                progress("making the agent's Java runtime with jlink (" + String.join(", ", JlinkRuntime.MODULES)
                        + "), once per JDK");
                runtime = JlinkRuntime.ensure(cacheDir);
            } else if (agent) {
                progress("using the agent runtime " + runtime);
            }
        }

        List<Manifest.Input> inputs = new ArrayList<>();
        for (Apt.PackageInfo p : pkgs) {
            inputs.add(new Manifest.Input("deb", p.name(), p.version(), p.sha256()));
        }
        agentCds = null;
        if (agent) {
            String jarSha = Sha256.of(agentJar);
            String runtimeSha = treeSha256(runtime);
            inputs.add(new Manifest.Input("file", "agent.jar", null, jarSha));
            inputs.add(new Manifest.Input("jlink", "agent-runtime", runtimeVersion(runtime), runtimeSha));
            progress("training the agent for its AppCDS archive (once per jar and runtime)");
            try (FileChannel lockFile = FileChannel.open(cacheDir.resolve(".lock"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE); FileLock lock = lockFile.lock()) {
                agentCds = AppCds.ensure(cacheDir, runtime, agentJar, jarSha, runtimeSha);
            }
            inputs.add(new Manifest.Input("appcds", AppCds.FILE_NAME, null, Sha256.of(agentCds)));
        }
        String recipe = recipe();

        progress("comparing with the image in " + output);
        Files.createDirectories(output);
        // One build per output directory at a time (tests and the CLI may share the default one).
        try (FileChannel lockFile = FileChannel.open(output.resolve(".build.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock lock = lockFile.lock()) {
            try {
                return buildLocked(inputs, recipe, kernelRelease, debs, runtime);
            } finally {
                for (String name : List.of(GuestImage.VMLINUX, GuestImage.VMLINUZ, GuestImage.INITRD,
                        Manifest.FILE_NAME)) {
                    Files.deleteIfExists(output.resolve(name + ".tmp"));
                }
            }
        }
    }

    private Result buildLocked(List<Manifest.Input> inputs, String recipe, String kernelRelease, List<Path> debs,
                               Path runtime) throws IOException {
        Optional<Manifest> current = upToDate(inputs, recipe, kernelRelease);
        if (current.isPresent()) {
            listener.step(total, total, "up to date (kernel " + kernelRelease + "), nothing to do");
            return new Result(output, current.get(), true);
        }

        // vmlinux ~65 MB, the unpacked kernel package ~420 MB, initramfs and vmlinuz ~10-30 MB.
        DiskSpace.require(output, 200L << 20, "the guest image");
        DiskSpace.require(cacheDir, 600L << 20, "unpacking the kernel package");
        Path work = Files.createTempDirectory(cacheDir, "unpack-");
        try {
            return build(work, debs, runtime, kernelRelease, inputs, recipe);
        } catch (IOException e) {
            throw DiskSpace.explain(e, output);
        } finally {
            deleteTree(work);
        }
    }

    private Result build(Path work, List<Path> debs, Path runtime, String kernelRelease,
                         List<Manifest.Input> inputs, String recipe) throws IOException {
        Path kernelDeb = debs.get(0);
        Path busyboxDeb = debs.get(1);
        progress("unpacking " + kernelDeb.getFileName() + " and " + busyboxDeb.getFileName()
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

        progress("resolving " + modules.size() + " kernel modules from modules.dep");
        ModulesDep dep = KernelModules.modulesDep(moduleDir);
        ModulesDep.Resolution mods = dep.resolve(modules, KernelModules.builtin(moduleDir));

        Set<String> libs = Set.of();
        if (runtime != null) {
            progress("resolving the shared libraries of crun and java (ldd)");
            libs = agentLibraries(xroot, runtime);
        }

        // Drop the old manifest first: a build that fails half-way must not leave an image that looks valid.
        Files.deleteIfExists(output.resolve(Manifest.FILE_NAME));

        progress("extracting vmlinux from the bzImage");
        Path vmlinuxTmp = output.resolve(GuestImage.VMLINUX + ".tmp");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(vmlinuxTmp), 1 << 16)) {
            BzImage.extractVmlinux(vmlinuz, out);
        }
        Files.move(vmlinuxTmp, output.resolve(GuestImage.VMLINUX), StandardCopyOption.REPLACE_EXISTING);
        Path vmlinuzTmp = output.resolve(GuestImage.VMLINUZ + ".tmp");
        Files.copy(vmlinuz, vmlinuzTmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(vmlinuzTmp, output.resolve(GuestImage.VMLINUZ), StandardCopyOption.REPLACE_EXISTING);

        Initramfs tree = rootfs(busyboxBin, moduleDir, kernelRelease, dep, mods);
        if (runtime != null) {
            addAgent(tree, xroot, libs, runtime);
        }
        progress("writing the initramfs (" + mods.loadOrder().size() + " modules, "
                + (tree.contentSize() >> 20) + " MiB, " + compression.id() + ")");
        Path cpio = work.resolve("initramfs.cpio");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(cpio), 1 << 16)) {
            tree.writeCpio(out);
        }
        Path initrdTmp = output.resolve(GuestImage.INITRD + ".tmp");
        compression.compress(cpio, initrdTmp);
        Files.move(initrdTmp, output.resolve(GuestImage.INITRD), StandardCopyOption.REPLACE_EXISTING);

        progress("writing " + Manifest.FILE_NAME);
        List<Manifest.Output> outputs = new ArrayList<>();
        for (String name : List.of(GuestImage.INITRD, GuestImage.VMLINUX, GuestImage.VMLINUZ)) {
            Path f = output.resolve(name);
            outputs.add(new Manifest.Output(name, Files.size(f), Sha256.of(f)));
        }
        Manifest m = new Manifest(Manifest.FORMAT_VERSION, kernelRelease, recipe, compression.id(), inputs,
                mods.loadOrder(), mods.builtin(), outputs);
        m.write(output);
        return new Result(output, m, false);
    }

    private static Set<String> agentLibraries(Path xroot, Path runtime) throws IOException {
        Path crun = xroot.resolve("usr/bin/crun");
        if (!Files.isRegularFile(crun)) {
            throw new FirmwareException("the " + CRUN_PACKAGE + " package holds no usr/bin/crun");
        }
        List<Path> programs = new ArrayList<>(List.of(crun, runtime.resolve("bin/java")));
        try (Stream<Path> s = Files.walk(runtime.resolve("lib"))) {
            s.filter(p -> p.toString().endsWith(".so") && Files.isRegularFile(p)).sorted().forEach(programs::add);
        }
        return SharedLibraries.resolve(xroot, programs,
                List.of(runtime.resolve("lib"), runtime.resolve("lib/server")));
    }

    private void addAgent(Initramfs t, Path xroot, Set<String> libs, Path runtime) throws IOException {
        t.file("usr/bin/crun", 0755, xroot.resolve("usr/bin/crun"));
        for (String lib : libs) {
            Path p = xroot.resolve(lib);
            if (Files.isSymbolicLink(p)) {
                t.symlink(lib, Files.readSymbolicLink(p).toString());
            } else {
                t.file(lib, 0755, p);
            }
        }
        t.file("opt/nemu/agent/agent.jar", 0644, agentJar);
        if (agentCds != null) {
            t.file("opt/nemu/agent/" + AppCds.FILE_NAME, 0644, agentCds);
        }
        // JNA would unpack its native part into /tmp at every start; /init points it here instead.
        byte[] jni = jarEntry(agentJar, JNA_NATIVE);
        if (jni != null) {
            t.file("opt/nemu/agent/lib/libjnidispatch.so", 0755, jni);
        }
        addTree(t, runtime, "opt/nemu/agent/runtime");
    }

    static final String JNA_NATIVE = "com/sun/jna/linux-x86-64/libjnidispatch.so";

    private static byte[] jarEntry(Path jar, String name) throws IOException {
        try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(jar.toFile())) {
            java.util.zip.ZipEntry e = z.getEntry(name);
            if (e == null) {
                return null;
            }
            try (InputStream in = z.getInputStream(e)) {
                return in.readAllBytes();
            }
        } catch (java.util.zip.ZipException e) {
            throw new FirmwareException("agent jar " + jar + " is not a jar: " + e.getMessage());
        }
    }

    private static String runtimeVersion(Path runtime) throws IOException {
        Path release = runtime.resolve("release");
        if (Files.isRegularFile(release)) {
            for (String line : Files.readAllLines(release)) {
                if (line.startsWith("JAVA_RUNTIME_VERSION=") || line.startsWith("JAVA_VERSION=")) {
                    return line.substring(line.indexOf('=') + 1).replace("\"", "");
                }
            }
        }
        return null;
    }

    private Initramfs rootfs(Path busybox, Path moduleDir, String rel, ModulesDep dep,
                             ModulesDep.Resolution mods) throws IOException {
        Initramfs t = new Initramfs();
        for (String d : List.of("dev", "proc", "sys", "run", "tmp", "mnt", "root", "var", "etc", "usr/bin",
                "usr/sbin", "sbin", "opt")) {
            t.dir(d, d.equals("tmp") ? 01777 : 0755);
        }
        t.dir("root", 0700);
        t.symlink("var/run", "../run");
        // The kernel opens /dev/console before /init runs, so the node must be in the archive.
        t.charDevice("dev/console", 0600, 5, 1);
        t.charDevice("dev/null", 0666, 1, 3);
        t.file("bin/busybox", 0755, busybox);
        for (String applet : busyboxApplets(busybox)) {
            if (!t.contains(applet)) {
                t.symlink(applet, "/bin/busybox");
            }
        }
        for (String[] f : ROOTFS_FILES) {
            t.file(f[0], Integer.parseInt(f[1], 8), resource(f[0]));
        }
        String base = "lib/modules/" + rel + "/";
        for (String m : mods.loadOrder()) {
            t.file(base + m, 0644, moduleDir.resolve(m));
        }
        t.file(base + "modules.dep", 0644, dep.format(mods.loadOrder()));
        t.file(base + "nemu-modules.load", 0644, String.join("\n", mods.loadOrder()) + "\n");
        Path builtin = moduleDir.resolve("modules.builtin");
        t.file(base + "modules.builtin", 0644, builtin);
        return t;
    }

    /** Applet paths from the busybox binary itself ({@code --list-full}), minus those /init replaces. */
    private static List<String> busyboxApplets(Path busybox) throws FirmwareException {
        Proc.Result r = Proc.run(List.of(busybox.toString(), "--list-full"), null, BUSYBOX_PACKAGE);
        if (r.exitCode() != 0) {
            throw new FirmwareException(busybox + " --list-full failed: " + r.lastErrorLine());
        }
        return Stream.of(r.stdout().split("\n")).map(String::trim)
                .filter(a -> !a.isEmpty() && a.contains("/") && !a.equals("sbin/init") && !a.equals("bin/busybox"))
                .sorted().toList();
    }

    private static void addTree(Initramfs t, Path root, String at) throws IOException {
        List<Path> paths;
        try (Stream<Path> s = Files.walk(root)) {
            paths = s.sorted(Comparator.comparing(Path::toString)).toList();
        }
        for (Path p : paths) {
            if (JlinkRuntime.isMarker(p)) {
                continue;
            }
            String rel = root.relativize(p).toString();
            String dst = rel.isEmpty() ? at : at + "/" + rel;
            if (Files.isSymbolicLink(p)) {
                t.symlink(dst, Files.readSymbolicLink(p).toString());
            } else if (Files.isDirectory(p)) {
                t.dir(dst, 0755);
            } else {
                t.file(dst, Files.isExecutable(p) ? 0755 : 0644, p);
            }
        }
    }

    private void checkAgentInputs() throws FirmwareException {
        if (agentJar == null) {
            if (agentRuntime != null) {
                throw new FirmwareException("an agent runtime was given without the agent jar");
            }
            return;
        }
        if (!Files.isRegularFile(agentJar)) {
            throw new FirmwareException("agent jar " + agentJar + " does not exist");
        }
        if (agentRuntime != null && !Files.isExecutable(agentRuntime.resolve("bin/java"))) {
            throw new FirmwareException("agent runtime " + agentRuntime + " has no bin/java");
        }
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
        for (String[] f : ROOTFS_FILES) {
            md.update((f[0] + " " + f[1] + "\n").getBytes(StandardCharsets.UTF_8));
            md.update(resource(f[0]));
        }
        // The code that shapes the outputs: a change to it must rebuild, even with the same packages.
        for (Class<?> c : List.of(ImageBuilder.class, ModulesDep.class, KernelModules.class, Initramfs.class,
                InitramfsCompression.class, BzImage.class, SharedLibraries.class, JlinkRuntime.class)) {
            try (InputStream in = c.getResourceAsStream(c.getSimpleName() + ".class")) {
                if (in != null) {
                    md.update(in.readAllBytes());
                }
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static byte[] resource(String path) throws IOException {
        try (InputStream in = ImageBuilder.class.getResourceAsStream("rootfs/" + path)) {
            if (in == null) {
                throw new FirmwareException("resource rootfs/" + path + " is missing from the firmware jar");
            }
            return in.readAllBytes();
        }
    }

    private static String treeSha256(Path root) throws IOException {
        MessageDigest md = Sha256.newDigest();
        List<Path> paths;
        try (Stream<Path> s = Files.walk(root)) {
            paths = s.sorted(Comparator.comparing(Path::toString)).toList();
        }
        for (Path p : paths) {
            if (JlinkRuntime.isMarker(p)) {
                continue;
            }
            md.update((root.relativize(p) + "\n").getBytes(StandardCharsets.UTF_8));
            if (Files.isSymbolicLink(p)) {
                md.update(Files.readSymbolicLink(p).toString().getBytes(StandardCharsets.UTF_8));
            } else if (Files.isRegularFile(p)) {
                md.update(Sha256.of(p).getBytes(StandardCharsets.UTF_8));
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
