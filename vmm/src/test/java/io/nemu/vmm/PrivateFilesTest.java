package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrivateFilesTest {
    @TempDir
    Path tmp;

    @Test
    void directoriesAreOwnerOnlyAtEveryLevelMade() throws IOException {
        Path leaf = PrivateFiles.directories(tmp.resolve("a/b/c"));
        assertEquals("rwx------", PrivateFiles.mode(tmp.resolve("a")));
        assertEquals("rwx------", PrivateFiles.mode(tmp.resolve("a/b")));
        assertEquals("rwx------", PrivateFiles.mode(leaf));
        // A folder that was there with a wider mode is tightened; its parent is left as it was.
        Path open = Files.createDirectories(tmp.resolve("open/inner"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(tmp.resolve("open"), PosixFilePermissions.fromString("rwxr-xr-x"));
        PrivateFiles.directories(open);
        assertEquals("rwx------", PrivateFiles.mode(open));
        assertEquals("rwxr-xr-x", PrivateFiles.mode(tmp.resolve("open")));
    }

    @Test
    void filesAreOwnerOnly() throws IOException {
        Path old = Files.writeString(tmp.resolve("old.log"), "old");
        Files.setPosixFilePermissions(old, PosixFilePermissions.fromString("rw-r--r--"));
        PrivateFiles.newFile(old);
        assertEquals("rw-------", PrivateFiles.mode(old));
        assertEquals("", Files.readString(old), "replaced by an empty file");

        Path kept = Files.writeString(tmp.resolve("kept.log"), "kept");
        Files.setPosixFilePermissions(kept, PosixFilePermissions.fromString("rw-rw-rw-"));
        PrivateFiles.file(kept);
        assertEquals("rw-------", PrivateFiles.mode(kept));
        assertEquals("kept", Files.readString(kept), "an existing file keeps its content");
        assertEquals("rw-------", PrivateFiles.mode(PrivateFiles.file(tmp.resolve("new.log"))));

        PrivateFiles.restrictIfExists(tmp.resolve("gone.sock"));
    }
}
