package io.nemu.firmware;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The guest agent's part of the image under {@code /opt/nemu/agent}: its jar, the jlink runtime, the AppCDS
 * archive trained for both, JNA's native library; and crun with the shared libraries crun and java need.
 *
 * @param jar     the agent jar
 * @param runtime the jlink runtime directory
 * @param cds     the AppCDS archive (in the cache)
 */
record AgentPayload(Path jar, Path runtime, Path cds) {
    static final String CRUN_PACKAGE = "crun";
    /**
     * Where the shared libraries of crun and of the agent's java come from (Debian 12 names); ldd checks at
     * build time that nothing else is needed.
     */
    static final List<String> LIBRARY_PACKAGES = List.of(
            "libc6", "libgcc-s1", "libstdc++6", "zlib1g",                    // java
            "libcap2", "libseccomp2", "libyajl2", "libsystemd0",             // crun
            "libgcrypt20", "libgpg-error0", "liblz4-1", "liblzma5", "libzstd1"); // libsystemd0
    static final String JNA_NATIVE = "com/sun/jna/linux-x86-64/libjnidispatch.so";
    private static final String HOME = "opt/nemu/agent";

    /** Checks the builder's agent inputs; a runtime without a jar makes no sense. */
    static void checkInputs(Path jar, Path runtime) throws FirmwareException {
        if (jar == null) {
            if (runtime != null) {
                throw new FirmwareException("an agent runtime was given without the agent jar");
            }
            return;
        }
        if (!Files.isRegularFile(jar)) {
            throw new FirmwareException("agent jar " + jar + " does not exist");
        }
        if (runtime != null && !Files.isExecutable(runtime.resolve("bin/java"))) {
            throw new FirmwareException("agent runtime " + runtime + " has no bin/java");
        }
    }

    /**
     * Records the jar and runtime among the build's inputs, then makes (or takes from the cache) the AppCDS
     * archive for them, under the cache lock, and records it too.
     */
    static AgentPayload prepare(Path cacheDir, Path jar, Path runtime, List<Manifest.Input> inputs,
                                BuildProgress progress) throws IOException {
        String jarSha = Sha256.of(jar);
        String runtimeSha = treeSha256(runtime);
        inputs.add(new Manifest.Input("file", "agent.jar", null, jarSha));
        inputs.add(new Manifest.Input("jlink", "agent-runtime", runtimeVersion(runtime), runtimeSha));
        progress.step("training the agent for its AppCDS archive (once per jar and runtime)");
        Path cds = ImageBuilder.underLock(cacheDir.resolve(".lock"),
                () -> AppCds.ensure(cacheDir, runtime, jar, jarSha, runtimeSha));
        inputs.add(new Manifest.Input("appcds", AppCds.FILE_NAME, null, Sha256.of(cds)));
        return new AgentPayload(jar, runtime, cds);
    }

    /** The shared libraries crun and java need, as paths in the unpacked library packages ({@code xroot}). */
    Set<String> libraries(Path xroot) throws IOException {
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

    void addTo(Initramfs t, Path xroot, Set<String> libs) throws IOException {
        t.file("usr/bin/crun", 0755, xroot.resolve("usr/bin/crun"));
        for (String lib : libs) {
            Path p = xroot.resolve(lib);
            if (Files.isSymbolicLink(p)) {
                t.symlink(lib, Files.readSymbolicLink(p).toString());
            } else {
                t.file(lib, 0755, p);
            }
        }
        t.file(HOME + "/agent.jar", 0644, jar);
        t.file(HOME + "/" + AppCds.FILE_NAME, 0644, cds);
        // JNA would unpack its native part into /tmp at every start; /init points it here instead.
        byte[] jni = jarEntry(jar, JNA_NATIVE);
        if (jni != null) {
            t.file(HOME + "/lib/libjnidispatch.so", 0755, jni);
        }
        addTree(t, runtime, HOME + "/runtime");
    }

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

    /** The runtime's files in name order, without the cache's completion marker. */
    private static List<Path> runtimeFiles(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.sorted(Comparator.comparing(Path::toString)).filter(p -> !JlinkRuntime.isMarker(p)).toList();
        }
    }

    private static void addTree(Initramfs t, Path root, String at) throws IOException {
        for (Path p : runtimeFiles(root)) {
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

    private static String treeSha256(Path root) throws IOException {
        MessageDigest md = Sha256.newDigest();
        for (Path p : runtimeFiles(root)) {
            md.update((root.relativize(p) + "\n").getBytes(StandardCharsets.UTF_8));
            if (Files.isSymbolicLink(p)) {
                md.update(Files.readSymbolicLink(p).toString().getBytes(StandardCharsets.UTF_8));
            } else if (Files.isRegularFile(p)) {
                md.update(Sha256.of(p).getBytes(StandardCharsets.UTF_8));
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
