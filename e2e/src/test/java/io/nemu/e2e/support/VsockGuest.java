package io.nemu.e2e.support;

import com.sun.jna.Native;
import io.nemu.e2e.vsock.guest.VsockGuestMain;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/**
 * The guest program of the vsock tests as an agent jar: {@link VsockGuestMain}'s package and JNA in one jar,
 * fixed timestamps so an unchanged jar leaves the image up to date ({@link GuestImages#vsockGuest()} boots it).
 */
public final class VsockGuest {
    private static final long FIXED_TIME = 1_600_000_000_000L;

    private VsockGuest() {
    }

    /** Writes the jar, leaving an unchanged one untouched (so the image stays up to date). */
    public static void writeJar(Path jar) throws IOException {
        Path classes;
        Path jna;
        try {
            classes = Path.of(VsockGuestMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            jna = Path.of(Native.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IOException(e);
        }
        String pkg = VsockGuestMain.class.getPackageName().replace('.', '/');
        Manifest mf = new Manifest();
        mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        mf.getMainAttributes().put(Attributes.Name.MAIN_CLASS, VsockGuestMain.class.getName());
        Path tmp = jar.resolveSibling(jar.getFileName() + ".tmp");
        try (OutputStream fo = Files.newOutputStream(tmp); JarOutputStream out = new JarOutputStream(fo)) {
            JarEntry me = new JarEntry(JarFile.MANIFEST_NAME);
            me.setTime(FIXED_TIME);
            out.putNextEntry(me);
            mf.write(out);
            out.closeEntry();
            List<Path> files = new ArrayList<>();
            try (Stream<Path> s = Files.walk(classes.resolve(pkg))) {
                s.filter(Files::isRegularFile).sorted().forEach(files::add);
            }
            for (Path f : files) {
                JarEntry e = new JarEntry(classes.relativize(f).toString());
                e.setTime(FIXED_TIME);
                out.putNextEntry(e);
                Files.copy(f, out);
                out.closeEntry();
            }
            try (JarFile jf = new JarFile(jna.toFile())) {
                List<JarEntry> entries = jf.stream().filter(e -> !e.isDirectory())
                        .filter(e -> !e.getName().startsWith("META-INF/")).sorted((a, b) -> a.getName().compareTo(b.getName()))
                        .toList();
                for (JarEntry src : entries) {
                    JarEntry e = new JarEntry(src.getName());
                    e.setTime(FIXED_TIME);
                    out.putNextEntry(e);
                    try (InputStream in = jf.getInputStream(src)) {
                        in.transferTo(out);
                    }
                    out.closeEntry();
                }
            }
        }
        if (Files.exists(jar) && Files.mismatch(jar, tmp) == -1) {
            Files.delete(tmp);
        } else {
            Files.move(tmp, jar, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
