package io.nemu.vmm.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store's folders with a builder that writes files instead of booting a VM (the VM part is in e2e). */
class TemplateStoreTest {
    @TempDir
    Path tmp;

    private static TemplateKey key(String digest) {
        return new TemplateKey("img", "virt", 1, 512, digest);
    }

    private static TemplateStore.Builder writes(AtomicInteger builds) {
        return into -> {
            builds.incrementAndGet();
            Files.writeString(into.resolve(Template.MEMORY), "ram");
            Files.writeString(into.resolve(Template.STATE), "state");
        };
    }

    @Test
    void buildsOnceThenFindsIt() throws Exception {
        TemplateStore store = new TemplateStore(tmp.resolve("templates"));
        TemplateKey k = key("aa");
        assertTrue(store.find(k).isEmpty());
        assertTrue(store.whyMissing(k).startsWith("no template of virt-1c-512m in "), store.whyMissing(k));
        AtomicInteger builds = new AtomicInteger();
        Template t = store.obtain(k, writes(builds));
        assertEquals("state", Files.readString(t.stateFile()));
        assertEquals(t, store.obtain(k, writes(builds)));
        assertEquals(1, builds.get());
        assertEquals(t, store.find(k).orElseThrow());
    }

    @Test
    void aNewKeyOfTheSameShapeReplacesTheStaleTemplate() throws Exception {
        TemplateStore store = new TemplateStore(tmp);
        AtomicInteger builds = new AtomicInteger();
        Template old = store.obtain(key("aa"), writes(builds));
        TemplateKey fresh = key("bb");
        assertTrue(store.whyMissing(fresh).contains("are stale (image or configuration changed): [" + old.dir().getFileName()),
                store.whyMissing(fresh));
        Template other = store.obtain(new TemplateKey("img", "virt", 2, 512, "aa"), writes(builds));
        store.obtain(fresh, writes(builds));
        assertFalse(Files.exists(old.dir()), "stale template removed");
        assertTrue(Files.exists(other.dir()), "another shape stays");
    }

    @Test
    void aFailedBuildLeavesNoTemplate() throws Exception {
        TemplateStore store = new TemplateStore(tmp);
        TemplateKey k = key("aa");
        IOException e = assertThrows(IOException.class, () -> store.obtain(k, into -> {
            Files.writeString(into.resolve(Template.MEMORY), "ram");
            throw new IOException("guest never ready");
        }));
        assertEquals("guest never ready", e.getMessage());
        assertTrue(store.find(k).isEmpty());
        try (var s = Files.list(tmp)) {
            assertEquals(0, s.filter(p -> !p.getFileName().toString().endsWith(".lock")).count());
        }
    }
}
