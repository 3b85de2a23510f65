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
        return new TemplateKey("img", "virt", 1, 512, 0, digest);
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
        assertTrue(store.whyMissing(k).startsWith("no template of virt-1c-512m-0n in "), store.whyMissing(k));
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
        Template other = store.obtain(new TemplateKey("img", "virt", 2, 512, 0, "aa"), writes(builds));
        Template oneNic = store.obtain(new TemplateKey("img", "virt", 1, 512, 1, "cc"), writes(builds));
        store.obtain(fresh, writes(builds));
        assertFalse(Files.exists(old.dir()), "stale template removed");
        assertTrue(Files.exists(other.dir()), "another shape stays");
        assertTrue(Files.exists(oneNic.dir()), "so does the template of pods with another NIC count");
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

    @Test
    void listShowsEachTemplateWithItsSettingsAndRemoveTakesItAway() throws Exception {
        TemplateStore store = new TemplateStore(tmp.resolve("t"));
        assertEquals(java.util.List.of(), store.list(), "no store folder yet: nothing");
        AtomicInteger builds = new AtomicInteger();
        Template a = store.obtain(key("aa"), into -> {
            writes(builds).build(into);
            Files.write(into.resolve(StoredTemplate.CONFIG), java.util.List.of("kernelArgs quiet", "nics 2 [net0, net1]"));
        });
        Template b = store.obtain(new TemplateKey("img", "virt", 2, 512, 0, "aa"), writes(builds));
        java.util.List<StoredTemplate> all = store.list();
        assertEquals(java.util.List.of(a.dir(), b.dir()).stream().sorted().toList(),
                all.stream().map(StoredTemplate::dir).toList());
        StoredTemplate sa = all.stream().filter(t -> t.dir().equals(a.dir())).findFirst().orElseThrow();
        assertTrue(sa.complete());
        assertEquals(3, sa.memoryBytes());
        assertEquals(java.util.Optional.of(2), sa.nics());
        assertEquals(java.util.List.of("kernelArgs"), sa.changedSettings(java.util.List.of("kernelArgs debug",
                "nics 2 [net0, net1]")));
        assertEquals(java.util.Optional.empty(), all.stream().filter(t -> t.dir().equals(b.dir())).findFirst()
                .orElseThrow().nics(), "saved without its settings: NICs unknown");

        assertTrue(store.remove(a.dir().getFileName().toString()));
        assertFalse(Files.exists(a.dir()));
        assertFalse(Files.exists(store.dir().resolve(a.dir().getFileName() + ".lock")));
        assertFalse(store.remove(a.dir().getFileName().toString()), "gone: nothing to remove");
        assertEquals(java.util.List.of(b.dir()), store.list().stream().map(StoredTemplate::dir).toList());
        assertThrows(IllegalArgumentException.class, () -> store.remove("../etc"));
        assertThrows(IllegalArgumentException.class, () -> store.remove(b.dir().getFileName() + ".lock"));
    }

    @Test
    void aTemplateBeingBuiltIsNotRemoved() throws Exception {
        TemplateStore store = new TemplateStore(tmp);
        TemplateKey k = key("aa");
        java.util.concurrent.CountDownLatch building = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        AtomicInteger builds = new AtomicInteger();
        var build = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return store.obtain(k, into -> {
                    building.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        throw new IOException(e);
                    }
                    writes(builds).build(into);
                });
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        building.await();
        IOException e = assertThrows(IOException.class, () -> store.remove(k.name()));
        assertTrue(e.getMessage().contains("is being built"), e.getMessage());
        release.countDown();
        Template t = build.get();
        assertTrue(Files.exists(t.stateFile()), "the build finished undisturbed");
        assertTrue(store.remove(k.name()));
        assertTrue(store.find(k).isEmpty());
    }
}
