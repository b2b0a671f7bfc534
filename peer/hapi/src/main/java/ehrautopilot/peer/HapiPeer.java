package ehrautopilot.peer;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.MemoryBinaryStorageSvcImpl;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.PackageLoaderConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.subscription.match.config.SubscriptionProcessorConfig;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import ca.uhn.fhir.jpa.subscription.submit.config.SubscriptionSubmitterConfig;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import java.io.InputStream;
import java.util.Properties;
import javax.sql.DataSource;
import org.apache.commons.dbcp2.BasicDataSource;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * HAPI FHIR JPA (R4) on H2 in memory, served by Jetty at {@code http://127.0.0.1:<port>/fhir}: the peer server of
 * {@code npm run test:peer}. HAPI's defaults are kept where they differ from our sandbox (search cache, client id
 * strategy, referential integrity on write, CapabilityStatement): the suite must meet them as a real EHR's.
 *
 * <p>Usage: {@code java -cp target/classes:target/lib/* ehrautopilot.peer.HapiPeer [port]} (0 or absent: any free
 * port). Prints {@code HAPI_PEER_READY <port>} on stdout once /fhir answers; exits when stdin closes (its parent
 * went away) or on SIGTERM.
 */
public final class HapiPeer {
  private HapiPeer() {}

  /** The Spring wiring: HAPI's own JPA R4, batch2, package loader and subscription configs, plus what they need. */
  @Configuration
  @Import({
    JpaR4Config.class,
    HapiJpaConfig.class,
    JpaBatch2Config.class,
    Batch2JobsConfig.class,
    ThreadPoolFactoryConfig.class,
    PackageLoaderConfig.class,
    SubscriptionSubmitterConfig.class,
    SubscriptionProcessorConfig.class,
    SubscriptionChannelConfig.class,
  })
  public static class Config {
    @Bean
    public DataSource dataSource() {
      BasicDataSource ds = new BasicDataSource();
      ds.setDriverClassName("org.h2.Driver");
      ds.setUrl("jdbc:h2:mem:hapi-peer;DB_CLOSE_DELAY=-1");
      ds.setUsername("sa");
      ds.setPassword("");
      ds.setMaxTotal(20);
      return ds;
    }

    @Bean
    public LocalContainerEntityManagerFactoryBean entityManagerFactory(
        ConfigurableListableBeanFactory beans, FhirContext fhirContext, JpaStorageSettings settings) {
      LocalContainerEntityManagerFactoryBean emf =
          HapiEntityManagerFactoryUtil.newEntityManagerFactory(beans, fhirContext, settings);
      emf.setPersistenceUnitName("HAPI_PEER");
      emf.setDataSource(dataSource());
      Properties jpa = new Properties();
      jpa.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
      jpa.put("hibernate.hbm2ddl.auto", "update");
      jpa.put("hibernate.search.enabled", "false");
      jpa.put("hibernate.show_sql", "false");
      emf.setJpaProperties(jpa);
      return emf;
    }

    @Bean
    @Primary
    public JpaTransactionManager transactionManager(EntityManagerFactory emf) {
      return new JpaTransactionManager(emf);
    }

    /** HAPI's defaults, on purpose (see the class comment); only what has no default is set. */
    @Bean
    public JpaStorageSettings storageSettings() {
      return new JpaStorageSettings();
    }

    @Bean
    public PartitionSettings partitionSettings() {
      return new PartitionSettings();
    }

    @Bean
    public SubscriptionSettings subscriptionSettings() {
      return new SubscriptionSettings();
    }

    @Bean
    public IBinaryStorageSvc binaryStorage() {
      return new MemoryBinaryStorageSvcImpl();
    }

    /** Subscriptions are wired but no e-mail ever leaves: a sender that drops everything. */
    @Bean
    public IEmailSender emailSender() {
      return details -> {};
    }
  }

  public static void main(String[] args) {
    try {
      start(args);
    } catch (Throwable e) {
      // Spring's threads would keep a half-started JVM alive: fail loudly and leave.
      e.printStackTrace();
      System.exit(1);
    }
  }

  private static void start(String[] args) throws Exception {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 0;
    long started = System.nanoTime();
    AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext(Config.class);

    FhirContext fhirContext = spring.getBean(FhirContext.class);
    RestfulServer fhir = new RestfulServer(fhirContext);
    fhir.registerProviders(spring.getBean(ResourceProviderFactory.class).createProviders());
    fhir.registerProvider(spring.getBean(JpaSystemProvider.class));
    fhir.setPagingProvider(spring.getBean(DatabaseBackedPagingProvider.class));
    fhir.setServerConformanceProvider(
        new JpaCapabilityStatementProvider(
            fhir,
            spring.getBean(IFhirSystemDao.class),
            spring.getBean(JpaStorageSettings.class),
            spring.getBean(ISearchParamRegistry.class),
            spring.getBean(IValidationSupport.class)));

    Server jetty = new Server();
    ServerConnector connector = new ServerConnector(jetty);
    connector.setHost("127.0.0.1");
    connector.setPort(port);
    jetty.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    context.addServlet(new ServletHolder(fhir), "/fhir/*");
    jetty.setHandler(context);
    jetty.setStopAtShutdown(true);
    jetty.start();

    Runtime.getRuntime().addShutdownHook(new Thread(spring::close));
    Thread watchdog =
        new Thread(
            () -> {
              try (InputStream in = System.in) {
                while (in.read() != -1) {
                  // nothing: stdin is only watched for its end
                }
              } catch (Exception ignored) {
                // a broken pipe is an end too
              }
              System.exit(0);
            },
            "stdin-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();

    long ms = (System.nanoTime() - started) / 1_000_000;
    System.out.println("HAPI_PEER_READY " + connector.getLocalPort() + " " + ms);
    System.out.flush();
  }
}
