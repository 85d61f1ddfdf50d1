// Runs Flink SQL embedded (a local mini-cluster in this JVM, streaming mode) for the interop tests:
// reads statements from stdin, separated by lines holding only ";", runs all but the last (CREATE
// TABLE, SET), then runs the last (a SELECT) and prints each changelog row it yields as one line:
// SET 'key' = 'value' lines set options; the row kind (+I, -U, +U, -D), a tab, and the fields as a JSON array of strings (null stays null;
// bytes as \x hex, arrays as JSON arrays). The sources must be bounded ('scan.bounded.mode') so
// that the job ends. Run with the jars of scripts/flink/fetch.sh on the class path:
//   java -cp "$FLINK_LIB/*" test/interop/FlinkSql.java < statements.sql
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;

public class FlinkSql {
  public static void main(String[] args) throws Exception {
    List<String> statements = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.trim().equals(";")) {
        if (!current.toString().isBlank()) statements.add(current.toString());
        current.setLength(0);
      } else {
        current.append(line).append('\n');
      }
    }
    if (!current.toString().isBlank()) statements.add(current.toString());

    TableEnvironment env = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    env.getConfig().set("parallelism.default", "1");
    env.getConfig().set("table.local-time-zone", "UTC");
    Pattern set = Pattern.compile("(?is)\\s*SET\\s+'([^']+)'\\s*=\\s*'([^']*)'\\s*");
    for (String sql : statements.subList(0, statements.size() - 1)) {
      Matcher m = set.matcher(sql);
      if (m.matches()) env.getConfig().set(m.group(1), m.group(2)); // SET is a SQL client command, not a statement
      else env.executeSql(sql);
    }
    TableResult result = env.executeSql(statements.get(statements.size() - 1));
    try (CloseableIterator<Row> rows = result.collect()) {
      while (rows.hasNext()) {
        Row row = rows.next();
        StringBuilder out = new StringBuilder(row.getKind().shortString()).append('\t').append('[');
        for (int i = 0; i < row.getArity(); i++) {
          if (i > 0) out.append(',');
          out.append(json(row.getField(i)));
        }
        System.out.println(out.append(']'));
      }
    }
    System.out.flush();
    System.exit(0); // the mini-cluster's threads would keep the JVM up
  }

  private static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof byte[] bytes) {
      StringBuilder hex = new StringBuilder("\\x");
      for (byte b : bytes) hex.append(String.format("%02x", b));
      return quote(hex.toString());
    }
    if (v.getClass().isArray()) {
      StringBuilder out = new StringBuilder("[");
      for (int i = 0; i < Array.getLength(v); i++) {
        if (i > 0) out.append(',');
        out.append(json(Array.get(v, i)));
      }
      return out.append(']').toString();
    }
    return quote(v.toString());
  }

  private static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }
}
