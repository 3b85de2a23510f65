package io.nemu.e2e.support;

import io.nemu.proto.cri.ContainerConfig;
import io.nemu.proto.cri.ContainerMetadata;
import io.nemu.proto.cri.ImageSpec;
import io.nemu.proto.cri.LinuxPodSandboxConfig;
import io.nemu.proto.cri.LinuxSandboxSecurityContext;
import io.nemu.proto.cri.Mount;
import io.nemu.proto.cri.NamespaceMode;
import io.nemu.proto.cri.NamespaceOption;
import io.nemu.proto.cri.PodSandboxConfig;
import io.nemu.proto.cri.PodSandboxMetadata;
import io.nemu.proto.cri.RuntimeCondition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a CRI test needs: a private containerd with the CRI plugin, the runc handler and the
 * {@code nemu} handler declared by the distribution's own snippet
 * ({@code share/containerd/containerd-nemu.toml}, only ConfigPath pointed at a test copy of the
 * configuration), a CNI bridge network of its own, the local busybox and pause images, and a CRI
 * client. {@link #close()} removes every pod still there, then stops containerd and deletes the bridge.
 */
public final class CriEnv implements AutoCloseable {
    public static final String RUNC = "runc";
    public static final String NEMU = "nemu";

    public final Path work;
    public final Path dist;
    public final Path configPath;
    public final CniBridge network;
    public final Containerd containerd;
    public final CriClient cri;

    private CriEnv(Path work, Path dist, Path configPath, CniBridge network, Containerd containerd, CriClient cri) {
        this.work = work;
        this.dist = dist;
        this.configPath = configPath;
        this.network = network;
        this.containerd = containerd;
        this.cri = cri;
    }

    /** The built distribution, packaging/target/nemu. */
    public static Path distribution() {
        return Distribution.locate().home;
    }

    /** Whether {@code nemu image build} gave the distribution its guest image (handler nemu needs it). */
    public static boolean guestImageBuilt() {
        return GuestImages.ofDistribution(Distribution.locate()).isPresent();
    }

    /** The containerd snippet as shipped in the distribution. */
    public static Path shippedSnippet(Path dist) {
        return dist.resolve("share/containerd/containerd-nemu.toml");
    }

    /** The shipped snippet with only its ConfigPath replaced. */
    public static String snippetWithConfigPath(String snippet, Path configPath) {
        Matcher m = Pattern.compile("(?m)^(\\s*ConfigPath\\s*=\\s*)\"[^\"]*\"").matcher(snippet);
        if (!m.find()) {
            throw new IllegalStateException("the containerd snippet has no ConfigPath line:\n" + snippet);
        }
        return m.replaceFirst(Matcher.quoteReplacement(m.group(1) + "\"" + configPath + "\""));
    }

    /**
     * A test copy of the distribution's configuration.toml: absolute guest paths (the shipped ones are
     * relative to its folder), TCG (the probe's answer here anyway), and a longer agent dial timeout
     * for boots on a busy 2-core machine.
     */
    public static Path testConfig(Path dist, Path dir) throws IOException {
        String text = Files.readString(dist.resolve("share/defaults/configuration.toml"));
        Path guest = dist.resolve("share/guest");
        text = replaceKey(text, "kernel", "\"" + guest.resolve("vmlinux") + "\"");
        text = replaceKey(text, "image", "\"" + guest.resolve("root.img") + "\"");
        text = replaceKey(text, "accelerator", "\"tcg\"");
        text = replaceKey(text, "dial_timeout", "120");
        Path file = dir.resolve("configuration.toml");
        Files.writeString(file, text);
        return file;
    }

    /** Sets {@code key} (a line the shipped configuration.toml has) in this environment's configuration: pods created from now on see it. */
    public void setConfig(String key, String value) throws IOException {
        Files.writeString(configPath, replaceKey(Files.readString(configPath), key, value));
    }

    /** Sets {@code key} of table {@code [section]} (for keys several tables have, e.g. {@code enable_debug}). */
    public void setConfig(String section, String key, String value) throws IOException {
        Files.writeString(configPath, setInTable(Files.readString(configPath), section, key, value, false));
    }

    /** Turns on templating in this environment's configuration, templates kept in {@code templates}: pods from now on are clones. */
    public void enableTemplating(Path templates) throws IOException {
        Files.writeString(configPath, withTemplates(Files.readString(configPath), templates));
    }

    /** Fails, with the log's tail, unless the shim's log says pod {@code podId} is a clone of a template in {@code templates}. */
    public void assertCloned(String podId, Path templates) throws IOException {
        String log = Files.readString(containerd.logFile());
        if (!log.contains("sandbox " + podId + ": cloning template " + templates)
                || log.contains("sandbox " + podId + " boots normally")) {
            throw new AssertionError("pod " + podId + " is not a clone of a template in " + templates + ":\n"
                    + containerd.logTail(80));
        }
    }

    /**
     * {@code toml} with templating on and its templates kept in {@code templates}: set in its {@code [factory]} table
     * (the shipped configuration has one), else in one appended (a minimal test configuration).
     */
    public static String withTemplates(String toml, Path templates) {
        String path = "\"" + templates + "\"";
        if (!toml.contains("\n[factory]\n")) {
            return toml + "\n[factory]\nenable_template = true\ntemplate_path = " + path + "\n";
        }
        return setInTable(setInTable(toml, "factory", "enable_template", "true", true), "factory", "template_path",
                path, true);
    }

    /**
     * {@code toml} with {@code key} of table {@code [section]} set to {@code value}: replaced where the table has
     * it, else (if {@code add}) added first in the table; fails naming what is missing.
     */
    private static String setInTable(String toml, String section, String key, String value, boolean add) {
        String header = "\n[" + section + "]\n";
        int at = toml.indexOf(header);
        if (at < 0) {
            throw new IllegalStateException("configuration.toml has no [" + section + "] table");
        }
        int start = at + header.length();
        int next = toml.indexOf("\n[", start);
        int end = next < 0 ? toml.length() : next + 1;
        String table = toml.substring(start, end);
        boolean has = Pattern.compile("(?m)^" + Pattern.quote(key) + "\\s*=").matcher(table).find();
        String set = has || !add ? replaceKey(table, key, value) : key + " = " + value + "\n" + table;
        return toml.substring(0, start) + set + toml.substring(end);
    }

    private static String replaceKey(String toml, String key, String value) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(key) + "\\s*=.*$").matcher(toml);
        if (!m.find()) {
            throw new IllegalStateException("configuration.toml has no '" + key + "' line");
        }
        return m.replaceFirst(Matcher.quoteReplacement(key + " = " + value));
    }

    /** @param extraPath folders put first on containerd's PATH (before the shim's), e.g. fault-injecting tools */
    public static CriEnv start(Path work, String bridge, String subnet, Path... extraPath) throws IOException {
        Path dist = distribution();
        Path configPath = testConfig(dist, work);
        String snippet = snippetWithConfigPath(Files.readString(shippedSnippet(dist)), configPath);
        CniBridge network = CniBridge.create(bridge, subnet, work);
        Containerd containerd = null;
        CriClient cri = null;
        try {
            Containerd.Builder builder = Containerd.builder();
            for (Path p : extraPath) {
                builder.extraPath(p);
            }
            containerd = builder
                    .cri(true)
                    .sandboxImage(OciImages.PAUSE)
                    .cniConfDir(network.confDir())
                    .extraPath(dist.resolve("bin"))
                    .extraConfig(snippet)
                    .ctrTimeout(Duration.ofSeconds(120))
                    .start();
            OciImages.importInto(containerd, OciImages.writeArchive(work));
            cri = CriClient.connect(Path.of(containerd.grpcAddress()));
            awaitNetworkReady(cri, containerd);
            return new CriEnv(work, dist, configPath, network, containerd, cri);
        } catch (IOException | RuntimeException e) {
            closeAll(e, cri, containerd, network);
            throw e;
        }
    }

    private static void awaitNetworkReady(CriClient cri, Containerd containerd) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        List<RuntimeCondition> conditions = List.of();
        while (System.nanoTime() < deadline) {
            conditions = cri.status().getStatus().getConditionsList();
            if (conditions.stream().filter(c -> c.getType().equals("NetworkReady")).anyMatch(RuntimeCondition::getStatus)) {
                return;
            }
            sleep(200);
        }
        throw new IllegalStateException("CRI did not report NetworkReady within 30 s: " + conditions
                + "\ncontainerd log:\n" + containerd.logTail(30));
    }

    /** A pod config: pod network namespace, its own log folder. */
    public PodSandboxConfig podConfig(String name) throws IOException {
        Path logs = Files.createDirectories(work.resolve("logs").resolve(name));
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("default")
                        .setUid(UUID.randomUUID().toString()).setAttempt(0))
                .setHostname(name)
                .setLogDirectory(logs.toString())
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.POD)
                                .setPid(NamespaceMode.CONTAINER).setIpc(NamespaceMode.POD))))
                .build();
    }

    /** A busybox container running {@code sh -c script}, logging to {@code <name>.log}. */
    public static ContainerConfig.Builder container(String name, String script) {
        return ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(OciImages.BUSYBOX))
                .addAllCommand(List.of("/bin/sh", "-c", script))
                .setLogPath(name + ".log");
    }

    public static Mount hostPath(Path host, String containerPath, boolean readOnly) {
        return Mount.newBuilder().setHostPath(host.toString()).setContainerPath(containerPath).setReadonly(readOnly).build();
    }

    /** Stops and removes every pod containerd still knows of. */
    public void removeAllPods() {
        for (var pod : cri.listPodSandboxes()) {
            cri.stopPodSandbox(pod.getId());
            cri.removePodSandbox(pod.getId());
        }
    }

    /** A test's teardown: closes {@code env} if it started, then deletes the test's {@code work} folder. */
    public static void closeAndDelete(CriEnv env, Path work) throws IOException {
        try {
            if (env != null) {
                env.close();
            }
        } finally {
            if (work != null) {
                FileTrees.delete(work);
            }
        }
    }

    @Override
    public void close() throws IOException {
        List<Exception> problems = new ArrayList<>();
        try {
            if (containerd.isAlive()) {
                removeAllPods();
            }
        } catch (RuntimeException e) {
            problems.add(e);
        }
        Exception first = problems.isEmpty() ? null : problems.get(0);
        IOException failure = new IOException("closing the CRI environment failed"
                + (first == null ? "" : ": " + first.getMessage()));
        if (first != null) {
            failure.addSuppressed(first);
        }
        closeAll(failure, cri, containerd, network);
        if (failure.getSuppressed().length > 0) {
            throw failure;
        }
    }

    private static void closeAll(Exception into, CriClient cri, Containerd containerd, CniBridge network) {
        if (cri != null) {
            try {
                cri.close();
            } catch (RuntimeException e) {
                into.addSuppressed(e);
            }
        }
        if (containerd != null) {
            try {
                containerd.close();
            } catch (IOException | RuntimeException e) {
                into.addSuppressed(e);
            }
        }
        try {
            network.close();
        } catch (IOException | RuntimeException e) {
            into.addSuppressed(e);
        }
    }

    public static void sleep(long millis) {
        Containerd.sleep(millis);
    }
}
