import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * Starts DynamoDB Local listening on 127.0.0.1 only. The stock launcher (ServerRunner.main) binds
 * every interface and has no host option, so this builds the server the same way ServerRunner does,
 * from the same command-line flags, then pins each Jetty connector to the loopback address before
 * starting it. Checked with `ss -ltn` while it runs: its one listener shows as
 * [::ffff:127.0.0.1]:<port> (127.0.0.1 on Java's dual-stack socket), where the stock launcher's
 * shows as *:<port>, every interface.
 *
 * <p>Prints one line, "LoopbackDynamoDBLocal listening on http://127.0.0.1:<port>", once it accepts
 * connections. The caller picks the port (ServerRunner refuses "-port 0"). It exits when its
 * standard input closes, so it never outlives the process that started it, even one that was killed.
 */
public final class LoopbackDynamoDBLocal {
  private static final String HOST = "127.0.0.1";

  private LoopbackDynamoDBLocal() {}

  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    if (proxy == null) {
      // -help and -version print and return no server.
      return;
    }
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server jetty = (Server) field.get(proxy);
    Connector[] connectors = jetty.getConnectors();
    if (connectors.length == 0) {
      throw new IllegalStateException("DynamoDB Local built a server without connectors");
    }
    for (Connector connector : connectors) {
      if (!(connector instanceof ServerConnector)) {
        // Refuse rather than listen on an address we could not pin.
        throw new IllegalStateException("cannot pin the host of connector " + connector);
      }
      ((ServerConnector) connector).setHost(HOST);
    }
    proxy.start();
    for (Connector connector : connectors) {
      ServerConnector bound = (ServerConnector) connector;
      if (!HOST.equals(bound.getHost())) {
        throw new IllegalStateException("connector is bound to " + bound.getHost() + ", not " + HOST);
      }
    }
    int port = ((ServerConnector) connectors[0]).getLocalPort();
    System.out.println("LoopbackDynamoDBLocal listening on http://" + HOST + ":" + port);
    System.out.flush();
    exitWhenStdinCloses(proxy);
  }

  private static void exitWhenStdinCloses(DynamoDBProxyServer proxy) {
    InputStream in = System.in;
    byte[] buffer = new byte[256];
    try {
      while (in.read(buffer) != -1) {
        // Input carries no commands; only its end matters.
      }
    } catch (IOException e) {
      // A broken pipe means the parent is gone too.
    }
    try {
      proxy.stop();
    } catch (Exception e) {
      // Exiting anyway.
    }
    System.exit(0);
  }
}
