package io.nemu.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The shim's packages point one way: cli -> daemon -> task -> sandbox -> agent -> network, config, oci;
 * events, errdefs, mount and cgroup are leaves. A reference to a package of the same or an upper layer is a back-edge.
 */
class PackageDirectionTest {
    /** Layer of each package: a package may only use packages of a higher number. */
    private static final Map<String, Integer> LAYER = Map.ofEntries(
            Map.entry("cli", 0), Map.entry("daemon", 1), Map.entry("task", 2), Map.entry("sandbox", 3),
            Map.entry("agent", 4), Map.entry("network", 5), Map.entry("config", 5), Map.entry("oci", 5),
            Map.entry("events", 6), Map.entry("errdefs", 6), Map.entry("mount", 6),
            Map.entry("cgroup", 6));
    /** Known back-edges, by file: none. */
    private static final Set<String> ALLOWED = Set.of();
    private static final Pattern REF = Pattern.compile("io\\.nemu\\.shim\\.([a-z]+)\\.");

    @Test
    void noPackageUsesOneAboveIt() throws IOException {
        Path root = Path.of("src/main/java/io/nemu/shim");
        List<String> wrong = new ArrayList<>();
        Set<String> unknown = new TreeSet<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                String rel = root.relativize(f).toString();
                String from = rel.substring(0, rel.indexOf('/'));
                Matcher m = REF.matcher(Files.readString(f));
                Set<String> to = new TreeSet<>();
                while (m.find()) {
                    to.add(m.group(1));
                }
                for (String p : to) {
                    if (!LAYER.containsKey(from) || !LAYER.containsKey(p)) {
                        unknown.add(LAYER.containsKey(from) ? p : from);
                    } else if (!p.equals(from) && LAYER.get(p) <= LAYER.get(from)
                            && !ALLOWED.contains(rel + " -> " + p)) {
                        wrong.add(rel + " -> " + p);
                    }
                }
            }
        }
        assertEquals(Set.of(), unknown, "packages without a layer in this test: give them one");
        assertEquals(List.of(), wrong, "references against the direction " + LAYER);
    }
}
