package io.nemu.e2e.support;

import com.google.protobuf.Any;
import io.nemu.firmware.GuestImage;
import io.nemu.firmware.GuestPaths;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The built distribution (packaging/target/nemu) and ways to run its shim like containerd does. */
public final class Distribution {
    public final Path home;

    private Distribution(Path home) {
        this.home = home;
    }

    /** {@code ctr run} arguments for our runtime with this configuration, then {@code tail}. */
    public static List<String> runArgs(Path config, String... tail) {
        List<String> a = new ArrayList<>(List.of("run", "--runtime", "io.containerd.nemu.v2", "--runtime-config-path",
                config.toString()));
        a.addAll(List.of(tail));
        return a;
    }

    public static Distribution locate() {
        Path root = GuestPaths.repoRoot(Path.of("").toAbsolutePath())
                .orElseThrow(() -> new IllegalStateException("not inside the source checkout"));
        Path home = root.resolve("packaging/target/nemu");
        if (!Files.isExecutable(home.resolve("bin/containerd-shim-nemu-v2"))) {
            throw new IllegalStateException(home + "/bin/containerd-shim-nemu-v2 missing: build it with"
                    + " `mvn -pl shim,packaging -am package -DskipTests`");
        }
        return new Distribution(home);
    }

    public Path bin() {
        return home.resolve("bin");
    }

    public Path shim() {
        return bin().resolve("containerd-shim-nemu-v2");
    }

    public Path guestDir() {
        return home.resolve("share/guest");
    }

    /**
     * A configuration.toml for tests: the distribution's guest booted as shipped (its root image), TCG, and extra
     * lines in [hypervisor.qemu]/[agent.kata].
     */
    public Path writeConfig(Path dir, String qemuExtra, String agentExtra) throws IOException {
        return writeRootImageConfig(dir, guestDir().resolve("root.img"), qemuExtra, agentExtra);
    }

    /** {@link #writeConfig(Path, String, String)} with another root image (a damaged copy, say). */
    public Path writeRootImageConfig(Path dir, Path rootImage, String qemuExtra, String agentExtra) throws IOException {
        return writeConfig(dir, guestDir().resolve("vmlinux"), "image", rootImage, qemuExtra, agentExtra);
    }

    /** {@link #writeConfig(Path, String, String)} with the old root: the whole initramfs, {@code initramfs.img}. */
    public Path writeInitramfsConfig(Path dir, String qemuExtra, String agentExtra) throws IOException {
        return writeConfig(dir, guestDir().resolve("vmlinux"), "initrd", guestDir().resolve("initramfs.img"),
                qemuExtra, agentExtra);
    }

    /** {@link #writeConfig(Path, String, String)} booting another guest image (one of {@link GuestImages}). */
    public Path writeConfig(Path dir, GuestImage image, String qemuExtra, String agentExtra) throws IOException {
        return image.rootImage().isPresent()
                ? writeConfig(dir, image.kernel(), "image", image.rootImage().get(), qemuExtra, agentExtra)
                : writeConfig(dir, image.kernel(), "initrd", image.initrd(), qemuExtra, agentExtra);
    }

    private static Path writeConfig(Path dir, Path kernel, String rootKey, Path root, String qemuExtra,
                                    String agentExtra) throws IOException {
        Path file = dir.resolve("configuration.toml");
        Files.writeString(file, "[hypervisor.qemu]\n"
                + "kernel = \"" + kernel + "\"\n"
                + rootKey + " = \"" + root + "\"\n"
                + "accelerator = \"tcg\"\n" + qemuExtra + "\n"
                + "[agent.kata]\n" + agentExtra + "\n");
        return file;
    }

    public static byte[] runtimeOptions(Path configPath) {
        return Any.newBuilder().setTypeUrl("runtimeoptions.v1.Options")
                .setValue(Options.newBuilder().setConfigPath(configPath.toString()).build().toByteString())
                .build().toByteArray();
    }

    public record Run(int exitCode, byte[] stdout, String stderr) {
        public String out() {
            return new String(stdout, StandardCharsets.UTF_8);
        }
    }

    /** Runs the shim binary in {@code bundle} with containerd's flags and environment. */
    public Run shim(Path bundle, Map<String, String> env, byte[] stdin, Duration timeout, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(shim().toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(bundle.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        p.getOutputStream().write(stdin);
        p.getOutputStream().close();
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", cmd) + " did not finish within " + timeout);
        }
        return new Run(p.exitValue(), out.get(5, TimeUnit.SECONDS),
                new String(err.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8));
    }

    private static byte[] readAll(InputStream in) {
        try {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            in.transferTo(b);
            return b.toByteArray();
        } catch (IOException e) {
            return new byte[0];
        }
    }

    /** A bundle folder with a config.json carrying the given annotations. */
    public static Path bundle(Path dir, Map<String, String> annotations) throws IOException {
        Files.createDirectories(dir);
        StringBuilder a = new StringBuilder();
        for (Map.Entry<String, String> e : annotations.entrySet()) {
            a.append(a.length() == 0 ? "" : ",").append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
        }
        Files.writeString(dir.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"true\"],\"cwd\":\"/\"},"
                + "\"root\":{\"path\":\"rootfs\"},\"annotations\":{" + a + "}}");
        return dir;
    }
}
