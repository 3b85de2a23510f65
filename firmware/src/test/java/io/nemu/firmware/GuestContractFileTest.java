package io.nemu.firmware;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.contract.GuestContract;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** /init takes the host-guest contract from the generated file and spells none of its values itself. */
class GuestContractFileTest {
    private static final Pattern ASSIGNMENT = Pattern.compile("^([A-Z_][A-Z0-9_]*)='(.*)'$");
    private static final Pattern NEMU_VARIABLE = Pattern.compile("\\$\\{?(NEMU_[A-Z0-9_]+)");

    private static String init() throws Exception {
        return new String(RootfsLayout.resource("init"), StandardCharsets.UTF_8);
    }

    /** The generated file read back as the shell would (values hold no quote here). */
    private static Map<String, String> parse(String file) {
        Map<String, String> vars = new LinkedHashMap<>();
        for (String line : file.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = ASSIGNMENT.matcher(line);
            assertTrue(m.matches(), "not an assignment: " + line);
            vars.put(m.group(1), m.group(2));
        }
        return vars;
    }

    @Test
    void initSpellsNoContractValue() throws Exception {
        String init = init();
        for (Map.Entry<String, String> v : GuestContract.shellVariables().entrySet()) {
            Pattern literal = Pattern.compile("(?<![A-Za-z0-9_])" + Pattern.quote(v.getValue()) + "(?![A-Za-z0-9_])");
            assertFalse(literal.matcher(init).find(),
                    "/init spells " + v.getValue() + " itself; use $" + v.getKey() + " from " + GuestContractFile.PATH);
        }
    }

    @Test
    void generatedFileHasEveryVariableInitUses() throws Exception {
        String init = init();
        assertTrue(init.contains("CONTRACT=/" + GuestContractFile.PATH + "\n"), "/init must source /" + GuestContractFile.PATH);
        Set<String> used = new TreeSet<>();
        Matcher m = NEMU_VARIABLE.matcher(init);
        while (m.find()) {
            used.add(m.group(1));
        }
        assertFalse(used.isEmpty(), "/init uses no contract variable");
        Map<String, String> generated = parse(GuestContractFile.render());
        assertTrue(generated.keySet().containsAll(used), "/init uses " + used + ", the file defines " + generated.keySet());
        assertEquals(GuestContract.shellVariables(), generated);
        assertEquals(GuestContract.SHARED_FS_TAG, generated.get("NEMU_SHARED_FS_TAG"));
    }

    @Test
    void valuesAreQuotedForTheShell() {
        String file = GuestContractFile.render(Map.of("A_B", "it's $HOME"));
        assertTrue(file.endsWith("A_B='it'\\''s $HOME'\n"), file);
    }

    @Test
    void theRootfsCarriesTheFile() throws Exception {
        Initramfs t = new Initramfs();
        RootfsLayout.addFiles(t);
        assertTrue(t.contains("init"));
        assertTrue(t.contains(GuestContractFile.PATH));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        t.writeCpio(out);
        assertTrue(out.toString(StandardCharsets.ISO_8859_1).contains("NEMU_AGENT_VSOCK_PORT='"
                + GuestContract.AGENT_VSOCK_PORT + "'"));
    }
}
