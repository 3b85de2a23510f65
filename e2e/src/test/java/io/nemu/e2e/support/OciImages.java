package io.nemu.e2e.support;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import io.nemu.firmware.Sha256;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * Local OCI images for CRI tests, no registry: one layer with busybox-static and its applets, an
 * {@code /www/index.html} for httpd, and {@code /pause}, a shell loop that sleeps until signalled and
 * exits 0 on SIGTERM. Two names share the layer: {@link #BUSYBOX} (sh) and {@link #PAUSE} (/pause),
 * the latter serving as CRI's sandbox_image. Written as one OCI archive and imported with
 * {@code ctr -n k8s.io images import}.
 */
public final class OciImages {
    public static final String BUSYBOX = "nemu.test/busybox:1";
    public static final String PAUSE = "nemu.test/pause:1";
    /** What httpd serves at / in the busybox image. */
    public static final String INDEX_HTML = "nemu pod test page\n";

    private static final String PAUSE_SCRIPT = "#!/bin/sh\n"
            + "# The pod's sandbox process: waits for a signal, exits 0 on SIGTERM/SIGINT.\n"
            + "trap 'exit 0' TERM INT\n"
            + "while :; do sleep 3600 & wait $!; done\n";
    private static final String PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private static final ObjectMapper JSON = new ObjectMapper();

    private OciImages() {
    }

    /** Writes the archive (both images) into {@code dir} and returns its path. */
    public static Path writeArchive(Path dir) throws IOException {
        byte[] layer = layer();
        String layerDigest = sha256(layer);
        List<Blob> blobs = new ArrayList<>();
        blobs.add(new Blob(layerDigest, layer));
        ArrayNode manifests = JSON.createArrayNode();
        for (String[] image : new String[][] {{BUSYBOX, null}, {PAUSE, "/pause"}}) {
            byte[] config = json(config(layerDigest, image[1]));
            String configDigest = sha256(config);
            ObjectNode manifest = JSON.createObjectNode();
            manifest.put("schemaVersion", 2);
            manifest.put("mediaType", "application/vnd.oci.image.manifest.v1+json");
            manifest.set("config", descriptor("application/vnd.oci.image.config.v1+json", configDigest, config.length));
            manifest.putArray("layers").add(descriptor("application/vnd.oci.image.layer.v1.tar", layerDigest, layer.length));
            byte[] manifestBytes = json(manifest);
            String manifestDigest = sha256(manifestBytes);
            blobs.add(new Blob(configDigest, config));
            blobs.add(new Blob(manifestDigest, manifestBytes));
            ObjectNode entry = descriptor("application/vnd.oci.image.manifest.v1+json", manifestDigest, manifestBytes.length);
            entry.putObject("platform").put("architecture", "amd64").put("os", "linux");
            entry.putObject("annotations").put("io.containerd.image.name", image[0])
                    .put("org.opencontainers.image.ref.name", image[0].substring(image[0].lastIndexOf(':') + 1));
            manifests.add(entry);
        }
        ObjectNode index = JSON.createObjectNode();
        index.put("schemaVersion", 2);
        index.set("manifests", manifests);

        Path archive = dir.resolve("nemu-test-images.oci.tar");
        try (OutputStream file = Files.newOutputStream(archive);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(file)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            addFile(tar, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8), 0644);
            addFile(tar, "index.json", json(index), 0644);
            addDir(tar, "blobs/");
            addDir(tar, "blobs/sha256/");
            TreeSet<String> seen = new TreeSet<>();
            for (Blob b : blobs) {
                if (seen.add(b.digest())) {
                    addFile(tar, "blobs/sha256/" + b.digest().substring("sha256:".length()), b.bytes(), 0644);
                }
            }
        }
        return archive;
    }

    /** Imports both images into containerd's k8s.io namespace (where CRI looks). */
    public static void importInto(Containerd containerd, Path archive) {
        containerd.ctr(Duration.ofSeconds(120), "-n", "k8s.io", "images", "import", archive.toString()).requireOk();
        String list = containerd.ctr("-n", "k8s.io", "images", "list", "-q").requireOk().stdout();
        for (String name : List.of(BUSYBOX, PAUSE)) {
            if (!list.lines().map(String::strip).toList().contains(name)) {
                throw new IllegalStateException("image " + name + " missing after import; ctr lists: " + list.strip());
            }
        }
    }

    private static ObjectNode config(String layerDigest, String entrypoint) {
        ObjectNode c = JSON.createObjectNode();
        c.put("architecture", "amd64");
        c.put("os", "linux");
        ObjectNode run = c.putObject("config");
        run.putArray("Env").add(PATH_ENV);
        run.put("WorkingDir", "/");
        if (entrypoint != null) {
            run.putArray("Entrypoint").add(entrypoint);
        } else {
            run.putArray("Cmd").add("sh");
        }
        ObjectNode rootfs = c.putObject("rootfs");
        rootfs.put("type", "layers");
        rootfs.putArray("diff_ids").add(layerDigest);
        return c;
    }

    private static ObjectNode descriptor(String mediaType, String digest, long size) {
        ObjectNode d = JSON.createObjectNode();
        d.put("mediaType", mediaType);
        d.put("digest", digest);
        d.put("size", size);
        return d;
    }

    private static byte[] layer() throws IOException {
        Path busybox = Path.of("/bin/busybox");
        if (!Files.isExecutable(busybox)) {
            throw new IllegalStateException("/bin/busybox missing (busybox-static): run scripts/install-deps.sh");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (String d : List.of("bin/", "dev/", "etc/", "proc/", "sys/", "root/", "var/", "www/", "data/", "ro/")) {
                addDir(tar, d);
            }
            TarArchiveEntry tmp = new TarArchiveEntry("tmp/");
            tmp.setMode(041777);
            tar.putArchiveEntry(tmp);
            tar.closeArchiveEntry();
            addFile(tar, "bin/busybox", Files.readAllBytes(busybox), 0755);
            for (String applet : Rootfs.allApplets()) {
                if (applet.equals("busybox")) {
                    continue;
                }
                TarArchiveEntry link = new TarArchiveEntry("bin/" + applet, TarArchiveEntry.LF_SYMLINK);
                link.setLinkName("busybox");
                tar.putArchiveEntry(link);
                tar.closeArchiveEntry();
            }
            addFile(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                    .getBytes(StandardCharsets.UTF_8), 0644);
            addFile(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n".getBytes(StandardCharsets.UTF_8), 0644);
            addFile(tar, "www/index.html", INDEX_HTML.getBytes(StandardCharsets.UTF_8), 0644);
            addFile(tar, "pause", PAUSE_SCRIPT.getBytes(StandardCharsets.UTF_8), 0755);
        }
        return out.toByteArray();
    }

    private static void addDir(TarArchiveOutputStream tar, String name) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setMode(040755);
        tar.putArchiveEntry(e);
        tar.closeArchiveEntry();
    }

    private static void addFile(TarArchiveOutputStream tar, String name, byte[] data, int mode) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(data.length);
        e.setMode(0100000 | mode);
        tar.putArchiveEntry(e);
        tar.write(data);
        tar.closeArchiveEntry();
    }

    private static byte[] json(Object node) throws IOException {
        return JSON.writeValueAsBytes(node);
    }

    static String sha256(byte[] data) {
        return "sha256:" + Sha256.of(data);
    }

    private record Blob(String digest, byte[] bytes) {
    }
}
